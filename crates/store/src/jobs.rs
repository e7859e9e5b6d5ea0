//! Scheduled work: things that must happen to an object later (a refund that the
//! issuer fails after accepting it, a checkout session that expires). A job is stored
//! in the transaction that decides it, so it survives restarts, and it is removed in
//! the transaction that carries it out, so it happens once.

use rusqlite::params;

use crate::{Scope, StoreError, Tx};

/// Which jobs a worker takes.
#[derive(Debug, Clone, Copy)]
pub enum Jobs<'a> {
    /// Only this action.
    Only(&'a str),
    /// Every action but this one.
    Except(&'a str),
}

/// A job whose time has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueJob {
    /// Row id, to finish it by.
    pub id: i64,
    /// The account and mode it acts in.
    pub scope: Scope,
    /// What to do (`refund.fail`).
    pub action: String,
    /// The object it acts on.
    pub object: String,
}

impl Tx<'_> {
    /// Schedules `action` on `object` at `due_at_ms` (unix milliseconds); returns the
    /// job's id, to finish it by ([`Tx::finish_job`]) if it is not needed after all.
    pub fn schedule_job(
        &self,
        scope: &Scope,
        due_at_ms: i64,
        action: &str,
        object: &str,
    ) -> Result<i64, StoreError> {
        self.conn.prepare_cached("INSERT INTO jobs (due_at_ms, account, livemode, action, object) VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(
            params![due_at_ms, scope.account, scope.livemode, action, object],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Up to `limit` jobs due at `now_ms`, oldest first, of the actions `which` selects.
    pub fn due_jobs(
        &self,
        now_ms: i64,
        limit: u32,
        which: Jobs<'_>,
    ) -> Result<Vec<DueJob>, StoreError> {
        let (sql, action) = match which {
            Jobs::Only(a) => (
                "SELECT id, account, livemode, action, object FROM jobs WHERE due_at_ms <= ?1 AND action = ?3 ORDER BY due_at_ms, id LIMIT ?2",
                a,
            ),
            Jobs::Except(a) => (
                "SELECT id, account, livemode, action, object FROM jobs WHERE due_at_ms <= ?1 AND action != ?3 ORDER BY due_at_ms, id LIMIT ?2",
                a,
            ),
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let jobs = stmt
            .query_map(params![now_ms, limit, action], |r| {
                Ok(DueJob {
                    id: r.get(0)?,
                    scope: Scope {
                        account: r.get(1)?,
                        livemode: r.get(2)?,
                    },
                    action: r.get(3)?,
                    object: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(jobs)
    }

    /// Claims a due job until `until_ms` (a lease): nobody else takes it before then,
    /// and if the claimer dies it comes due again. False if someone claimed it first.
    pub fn claim_job(&self, id: i64, now_ms: i64, until_ms: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("UPDATE jobs SET due_at_ms = ?3 WHERE id = ?1 AND due_at_ms <= ?2")?
            .execute(params![id, now_ms, until_ms])?
            == 1)
    }

    /// Makes every job of `action` due at `now_ms` at the latest; returns how many it
    /// brought forward.
    pub fn bring_jobs_forward(&self, action: &str, now_ms: i64) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .prepare_cached("UPDATE jobs SET due_at_ms = ?2 WHERE action = ?1 AND due_at_ms > ?2")?
            .execute(params![action, now_ms])?)
    }

    /// Moves a job to a new due time.
    pub fn reschedule_job(&self, id: i64, due_at_ms: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE jobs SET due_at_ms = ?2 WHERE id = ?1")?
            .execute(params![id, due_at_ms])?;
        Ok(())
    }

    /// Removes a job; false if another worker already finished it.
    pub fn finish_job(&self, id: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM jobs WHERE id = ?1")?
            .execute([id])?
            == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::Jobs;
    use crate::Scope;

    #[test]
    fn jobs_come_due_in_order_and_finish_once() {
        let (_dir, store) = crate::scratch_store();
        let s = Scope {
            account: "acct_1".into(),
            livemode: false,
        };
        store
            .write(|tx| {
                tx.schedule_job(&s, 2_000, "refund.fail", "re_2")?;
                tx.schedule_job(&s, 1_000, "refund.fail", "re_1")?;
                tx.schedule_job(&s, 9_000, "refund.fail", "re_3")?;
                Ok::<_, crate::StoreError>(())
            })
            .unwrap();
        let due = store
            .read(|tx| tx.due_jobs(5_000, 10, Jobs::Except("webhook.deliver")))
            .unwrap();
        assert_eq!(
            due.iter().map(|j| j.object.as_str()).collect::<Vec<_>>(),
            ["re_1", "re_2"]
        );
        assert!(store.write(|tx| tx.finish_job(due[0].id)).unwrap());
        assert!(!store.write(|tx| tx.finish_job(due[0].id)).unwrap());
        assert_eq!(
            store
                .read(|tx| tx.due_jobs(5_000, 10, Jobs::Only("refund.fail")))
                .unwrap()
                .len(),
            1
        );
        // A claimed job is not due again until its lease ends.
        let id = store
            .read(|tx| tx.due_jobs(5_000, 10, Jobs::Only("refund.fail")))
            .unwrap()[0]
            .id;
        assert!(store.write(|tx| tx.claim_job(id, 5_000, 8_000)).unwrap());
        assert!(!store.write(|tx| tx.claim_job(id, 5_000, 8_000)).unwrap());
        assert!(
            store
                .read(|tx| tx.due_jobs(5_000, 10, Jobs::Only("refund.fail")))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .read(|tx| tx.due_jobs(8_000, 10, Jobs::Only("refund.fail")))
                .unwrap()
                .len(),
            1
        );
    }
}
