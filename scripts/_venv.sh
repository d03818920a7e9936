# Shared by scripts/test and scripts/scan-local (sourced, not run): a virtualenv with pytest-k8sharden
# installed from this checkout (editable). Re-installs only when pyproject.toml changed.
# K8SHARDEN_VENV chooses the venv (default: .venv in the checkout), PYTHON the interpreter (3.11+).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${K8SHARDEN_VENV:-$ROOT/.venv}"

# sudo resets PATH to its secure_path, which leaves out Go's usual install folder.
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
  export PATH="$PATH:/usr/local/go/bin"
fi

ensure_venv() {
  local extras="$1" python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: pytest-k8sharden needs Python 3.11 or newer as '$python' (set PYTHON=...)" >&2
    return 1
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    if ! "$python" -m venv "$VENV" >/dev/null 2>&1; then
      if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "installing python3-venv"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        rm -rf "$VENV"
        "$python" -m venv "$VENV"
      else
        echo "error: '$python -m venv' failed; install your distribution's python3-venv package" >&2
        return 1
      fi
    fi
  fi
  local stamp="$VENV/.k8sharden-installed${extras}" want
  want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing pytest-k8sharden${extras} into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT$extras"
    echo "$want" >"$stamp"
  fi
}
