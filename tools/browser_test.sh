#!/usr/bin/env bash
# Real-browser test of the seller portal: installs Debian's chromium if missing, serves the
# sample data, loads the page headless with a seller's token, checks it lists the primary
# category with every row's reasons, picks another category from the dropdown (a link's
# #category=… selects it and fires the dropdown's change event), checks the list refreshed to
# that category, and saves a screenshot as target/portal.png.
# Usage: tools/browser_test.sh        (exit 0: passed; 1: the page did not behave)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null; then
  # No browser to be had (no network, no apt) is not a failure of the portal: say so and stop.
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
    echo "browser test SKIPPED: chromium could not be installed" >&2
    exit 0
  fi
fi
cargo build --release --quiet --bin demandlink
bin="${CARGO_TARGET_DIR:-target}/release/demandlink"
mkdir -p target
shot=target/portal.png

work=$(mktemp -d)
source tools/lib/portal.sh
trap 'stop_server; rm -rf "$work"' EXIT

db="$work/db"
portal_db "$db"
seller=s000005
token=$("$bin" tokens issue --db "$db" --seller "$seller" 2>/dev/null)
start_server "$db"

browse() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --virtual-time-budget=5000 "$@" 2>>"$work/chromium.err"
}
fail() {
  echo "browser test FAILED: $*" >&2
  exit 1
}
# The category the table shows and every row's category, from a dumped DOM.
shown() { grep -o '<table id="recs" data-category="[^"]*"' <<<"$1" | sed 's/.*data-category="\(.*\)"/\1/'; }
rows() { grep -o '<tr data-category="[^"]*"' <<<"$1" | sed -e 's/.*data-category="\(.*\)"/\1/' -e 's/&gt;/>/g' -e 's/&amp;/\&/g'; }
check_list() { # DOM CATEGORY
  [ "$(shown "$1")" = "$2" ] || fail "the list shows '$(shown "$1")', expected '$2'"
  local n
  n=$(rows "$1" | wc -l)
  [ "$n" -gt 0 ] || fail "no recommendations listed for $2"
  if rows "$1" | grep -v -e "^$2\$" -e "^$2 > " >/dev/null; then
    fail "rows of other categories in the $2 list: $(rows "$1" | grep -v "^$2" | head -3 | tr '\n' ';')"
  fi
  echo "browser test: $n recommendations listed, all in $2"
}

page="http://$addr/#token=$token"
first=$(browse --dump-dom "$page")
primary=$(shown "$first")
[ -n "$primary" ] || fail "no list on the page (chromium: $(tail -3 "$work/chromium.err"))"
check_list "$first" "$primary"
grep -q 'computed <time' <<<"$first" || fail "the page does not say when the list was computed"
# Every row says why, with its category reason (the same as `inspect`'s).
reasons=$(grep -Eo '<li>(Same category as [0-9]+ of your listings|None of your listings is in its category|No category)</li>' <<<"$first" | wc -l)
[ "$reasons" -eq "$(rows "$first" | wc -l)" ] || fail "$reasons category reasons for $(rows "$first" | wc -l) rows"
grep -q '<li>Bought together with your ' <<<"$first" || fail "no co-purchase reason on the page"
other=$(grep -o '<option value="[^"]*"' <<<"$first" | sed 's/.*value="\(.*\)"/\1/' | grep -vx "$primary" | head -1)
[ -n "$other" ] || fail "the dropdown offers no other category"
second=$(browse --dump-dom "$page&category=$other")
check_list "$second" "$other"
[ "$(rows "$first")" != "$(rows "$second")" ] || fail "the list did not change"
browse --screenshot="$PWD/$shot" --window-size=1100,760 "$page&category=$other" >/dev/null
[ -s "$shot" ] || fail "no screenshot"
echo "browser test passed: $seller's list went from $primary to $other; screenshot $shot"
