# Sourced by the Python suites' run.sh (with $here, the suite's folder, and $repo set):
# the shared virtualenv ($TESSERA_VENV, default <repo>/target/sdk-venv) with the suite's
# requirements installed; leaves its path in $venv.
venv="${TESSERA_VENV:-$repo/target/sdk-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
