"""Data at rest. Runs last (conftest orders it last): sends every test card
through the gateway, stops the server with SIGTERM, then scans every byte of
the data directory (database, WAL, journal files), the server's TMPDIR and its
stdout/stderr logs for each PAN, and checks that the vault keeps no CVC.
Object documents are stored compressed, which a byte scan cannot see through, so
they are also decompressed with the store's dictionary and scanned as JSON."""

import json
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import lz4.block
import stripe

import tessera_support as T
from tessera_support import browser_post, card_details, submit_challenge


def _files(root: Path):
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            if p.is_file() and not p.is_symlink():
                yield p


def _pan_hits(path: Path):
    data = path.read_bytes()
    hits = []
    for pan in T.ALL_PANS:
        for enc in ("ascii", "utf-16-le", "utf-16-be"):
            if pan.encode(enc) in data:
                hits.append(f"…{pan[-4:]} ({enc})")
    return hits


AUTHORIZED_PMS = set()  # PaymentMethods this module saw through an authorization decision


def test_every_test_card_goes_through_the_gateway(gw):
    """So that the scans below are meaningful even when this file runs alone."""
    client = gw.client
    assert gw.running
    for pan in T.ALL_PANS:
        r = browser_post(gw, "/v1/payment_methods", {"type": "card", "card": card_details(pan)}, gw.publishable_key)
        if pan == T.BAD_LUHN:
            assert r.status_code == 402
            continue
        assert r.status_code == 200, r.text[:300]
        pm = r.json()["id"]
        try:
            pi = client.v1.payment_intents.create({"amount": 1000, "currency": "usd", "payment_method": pm,
                                                   "confirm": True, "return_url": "https://merchant.example/r"})
        except stripe.CardError:
            AUTHORIZED_PMS.add(pm)
            continue
        if pi.status == "requires_action":
            submit_challenge(pi.next_action.redirect_to_url.url, "complete")
        AUTHORIZED_PMS.add(pm)


def test_server_stops_cleanly_on_sigterm(gw):
    code = gw.stop()
    assert code == 0, f"tessera exited with {code} after SIGTERM (expected a clean exit, status 0)"


def test_no_pan_in_data_dir(gw):
    gw.stop()
    files = list(_files(gw.data_dir))
    assert files, "the data directory is empty"
    found = {}
    for f in files:
        hits = _pan_hits(f)
        if hits:
            found[str(f.relative_to(gw.data_dir))] = hits
    assert not found, f"card numbers found at rest: {found}"


DOCUMENT_DICTIONARY = Path(__file__).resolve().parents[2] / "crates/store/src/documents.v1.dict"


def _copied(db: Path, td: str) -> Path:
    """A copy of a database with its -wal/-shm/-journal, so reading never changes the evidence."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        src = db.with_name(db.name + suffix)
        if src.exists():
            shutil.copy2(src, Path(td) / (db.name + suffix))
    return Path(td) / db.name


# Every column the store keeps compressed (crates/store/src/documents.rs), by table.
COMPRESSED_COLUMNS = (("objects", "id", "doc"), ("idempotency", "key", "body"), ("risk_attempts", "charge", "signals"))


def test_no_pan_in_stored_documents(gw):
    gw.stop()
    dictionary = DOCUMENT_DICTIONARY.read_bytes()
    with tempfile.TemporaryDirectory() as td:
        con = sqlite3.connect(str(_copied(gw.store_path, td)))
        try:
            rows = {table: con.execute(f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL").fetchall()
                    for table, key, column in COMPRESSED_COLUMNS}
        finally:
            con.close()
    compressed, found = {}, {}
    for table, values in rows.items():
        compressed[table] = 0
        for key, value in values:
            if isinstance(value, bytes):
                assert value[:1] == b"\x01", f"{table} {key}: unknown document format {value[:1]!r}"
                text = lz4.block.decompress(value[1:], dict=dictionary).decode()
                compressed[table] += 1
            else:
                text = value
            json.loads(text)
            hits = [f"…{pan[-4:]}" for pan in T.ALL_PANS if pan in text]
            if hits:
                found[f"{table} {key}"] = hits
    for table, count in compressed.items():
        assert count > 0 and count == len(rows[table]), \
            f"{table}: {count} of {len(rows[table])} values are stored compressed"
    assert not found, f"card numbers in stored documents: {found}"


def test_no_pan_in_server_temp_files(gw):
    gw.stop()
    found = {str(f): _pan_hits(f) for f in _files(gw.server_tmp) if _pan_hits(f)}
    assert not found, f"card numbers found in the server's temporary files: {found}"


def test_no_pan_or_secret_in_logs(gw):
    gw.stop()
    for log in (gw.stdout_path, gw.stderr_path):
        hits = _pan_hits(log)
        assert not hits, f"card numbers in {log.name}: {hits}"
    stderr = gw.stderr_path.read_text(errors="replace")
    assert gw.secret_key not in stderr, "the secret key appears in the server log"


def test_vault_holds_no_cvc_after_authorization(gw):
    gw.stop()
    vaults = [p for p in _files(gw.data_dir) if p.name == "vault.db"]
    assert vaults, f"no vault.db under the data dir: {[str(p.relative_to(gw.data_dir)) for p in _files(gw.data_dir)]}"
    for vault in vaults:
        with tempfile.TemporaryDirectory() as td:
            con = sqlite3.connect(str(_copied(vault, td)))
            try:
                cols = [r[1] for r in con.execute("PRAGMA table_info(cards)")]
                assert cols, f"{vault}: no table `cards`"
                assert "cvc_ct" in cols, f"{vault}: table `cards` has no column `cvc_ct` (columns: {cols})"
                total = con.execute("SELECT COUNT(*) FROM cards").fetchone()[0]
                with_cvc = con.execute("SELECT COUNT(*) FROM cards WHERE cvc_ct IS NOT NULL").fetchone()[0]
                # diagnostics only: which of the rows still holding a CVC were authorized in this module
                detail = ""
                if "payment_method" in cols and with_cvc:
                    held = {r[0] for r in con.execute("SELECT payment_method FROM cards WHERE cvc_ct IS NOT NULL")}
                    detail = (f"; {len(held & AUTHORIZED_PMS)} of them belong to PaymentMethods that went "
                              f"through an authorization in this module")
            finally:
                con.close()
        assert total > 0, f"{vault}: no cards stored, although the suite tokenized cards"
        assert with_cvc == 0, f"{vault}: {with_cvc} of {total} card rows still hold a CVC after the suite{detail}"
