# Sourced by run_local.sh and run_tests.sh: creates .venv on first use and
# (re)installs the project whenever setup.py or constraints.txt change.
# Usage: ensure_venv EXTRAS   (EXTRAS: "" or "test")
ensure_venv() {
  local extras=$1 root venv stamp hash installed
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  venv="$root/.venv"
  stamp="$venv/.signkps-installed"
  hash=$(cat "$root/setup.py" "$root/constraints.txt" | sha256sum | cut -c1-16)
  if [[ ! -x $venv/bin/python ]]; then
    echo "signkps: creating $venv (first run; installs pinned packages from PyPI)" >&2
    python3.11 -m venv "$venv"
  fi
  installed=$(cat "$stamp" 2>/dev/null || true)
  # An install with the test extras also serves a plain run.
  if [[ $installed != "$hash-$extras" && $installed != "$hash-test" ]]; then
    echo "signkps: installing the project into $venv" >&2
    local target="$root"
    [[ -n $extras ]] && target="$root[$extras]"
    "$venv/bin/python" -m pip install --quiet -c "$root/constraints.txt" \
      --config-settings editable_mode=compat -e "$target"
    echo "$hash-$extras" > "$stamp"
  fi
  export PATH="$venv/bin:$PATH"
}
