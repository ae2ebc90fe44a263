#!/bin/sh
# page.sh -- the status page of a real daemon on the lab, as headless
# Chromium renders it: the mode, every pool and upstream with its state, a
# latency plot per upstream with data in it, the feeds, the last events,
# no console message (the page has no script; a CSP violation or a script
# error would show there), a screenshot that is not blank; after a freeze
# of the primary, the page follows the failover.  Chromium only ever talks
# to 127.0.0.1: every name resolves to nothing and no proxy is used.

# transport.sh uses the first hundred ports from RG_TEST_PORT_BASE.
RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 4500 ))

CHROMIUM=${RG_CHROMIUM:-}
if [ -z "$CHROMIUM" ]; then
	for c in chromium chromium-browser; do
		if command -v $c >/dev/null 2>&1; then
			CHROMIUM=$c
			break
		fi
	done
fi
if [ -z "$CHROMIUM" ]; then
	echo "SKIP: chromium not found"
	exit 77
fi
. "$(dirname "$0")/lib.sh"

HTTP_PORT=$((RG_TEST_PORT_BASE + 50))
URL=http://127.0.0.1:$HTTP_PORT/
SHOT_W=1280
SHOT_H=1600

# browse OUT ARGS...: one headless Chromium run on the page, its output in
# OUT; its log is kept apart for the console check.
runs=0
browse() {
	out=$1
	shift
	runs=$((runs + 1))
	mkdir -p "$T/chromium-home"
	HOME=$T/chromium-home XDG_CONFIG_HOME=$T/chromium-home \
	    XDG_CACHE_HOME=$T/chromium-home \
	    timeout -k 5 60 "$CHROMIUM" --headless=new --no-sandbox \
	    --disable-gpu --no-proxy-server \
	    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
	    --disable-background-networking --disable-component-update \
	    --disable-sync --no-first-run --disable-default-apps \
	    --user-data-dir="$T/chromium" --enable-logging=stderr --v=0 \
	    "$@" "$URL" > "$out" 2> "$T/chromium.$runs.log"
	rc=$?
	cat "$T/chromium.$runs.log" >> "$T/chromium.log"
	return $rc
}

# The DOM, checked against the status document taken just after it.
cat > "$T/check-page.py" <<'EOF'
import html.parser
import json
import re
import sys

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "source", "track", "wbr"}
STATES = {"unknown", "down", "degraded", "up"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children = []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text()
                       for c in self.children)

    def find_all(self, tag):
        for c in self.children:
            if isinstance(c, Node):
                if c.tag == tag:
                    yield c
                yield from c.find_all(tag)

    def elements(self):
        return [c for c in self.children if isinstance(c, Node)]


class Parser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#document", [], None)

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


dom_file, status_file, want_mode, want_event = sys.argv[1:5]
p = Parser()
p.feed(open(dom_file, encoding="utf-8").read())
root = p.root
status = json.load(open(status_file))
results = []


def check(cond, desc):
    results.append((bool(cond), desc))


def by_id(i):
    return next((n for t in ("b", "p", "table")
                 for n in root.find_all(t) if n.attrs.get("id") == i), None)


def rows(table):
    # Data rows: those with td cells (the header has th).
    return [[c for c in tr.elements() if c.tag == "td"]
            for tr in table.find_all("tr")
            if any(c.tag == "td" for c in tr.elements())]


def points(svg):
    d = " ".join(path.attrs.get("d", "") for path in svg.find_all("path"))
    return len(re.findall(r"[ML]-?[0-9.]+ -?[0-9.]+", d))


check(next(root.find_all("body"), None) is not None, "page has a body")
check(next(root.find_all("script"), None) is None, "page has no script")
mode = by_id("mode")
check(mode is not None and mode.text() == want_mode,
      "mode is %s (page: %s)" % (want_mode, mode.text() if mode else None))
active = by_id("active")
check(active is not None and active.text() == status["active_pool"],
      "active pool %s (page: %s)" % (status["active_pool"],
                                      active.text() if active else None))
verdict = by_id("verdict")
word = ["OK", "WARNING", "CRITICAL"][status["health"]["code"]]
check(verdict is not None and verdict.text().startswith(word + ": "),
      "verdict %s (page: %s)" % (word, verdict.text() if verdict else None))

# Each h2 is followed by its table.
body = next(root.find_all("body"))
sections = {}
els = body.elements()
for i, e in enumerate(els):
    if e.tag == "h2":
        t = next((x for x in els[i + 1:] if x.tag in ("table", "h2")), None)
        sections[" ".join(e.text().split())] = t if t is not None and \
            t.tag == "table" else None

for pool in status["pools"]:
    title = "pool %s (%s)" % (pool["name"], pool["role"])
    table = sections.get(title)
    check(table is not None, "section \"%s\"" % title)
    if table is None:
        continue
    by_name = {r[0].text(): r for r in rows(table) if r}
    for u in pool["upstreams"]:
        r = by_name.get(u["name"])
        check(r is not None and len(r) == 7,
              "pool %s lists upstream %s" % (pool["name"], u["name"]))
        if r is None or len(r) != 7:
            continue
        st = r[3]
        check(st.text() == u["state"] and st.attrs.get("class") == u["state"]
              and st.text() in STATES,
              "upstream %s state %s (page: %s, class %s)" %
              (u["name"], u["state"], st.text(), st.attrs.get("class")))
        svgs = [s for s in r[5].find_all("svg")
                if "plot" in s.attrs.get("class", "").split()]
        check(len(svgs) == 1, "upstream %s has one latency plot (%d)" %
              (u["name"], len(svgs)))
        if svgs:
            n = points(svgs[0])
            check(n >= 1, "upstream %s plot has data points (%d)" %
                  (u["name"], n))

feeds = sections.get("feeds")
check(feeds is not None, "section \"feeds\"")
if feeds is not None:
    by_name = {r[0].text(): r for r in rows(feeds) if r}
    check(len(status["feeds"]) > 0, "the status has feeds to show")
    for f in status["feeds"]:
        r = by_name.get(f["name"])
        check(r is not None and len(r) == 6 and r[1].text() == f["format"]
              and r[2].text() == f["state"]
              and r[3].text() == str(f["entries"]),
              "feed %s: %s, %s, %s rules (page: %s)" %
              (f["name"], f["format"], f["state"], f["entries"],
               [c.text() for c in r] if r else None))

events = by_id("events")
check(events is not None and sections.get("last events") is events,
      "section \"last events\"")
if events is not None:
    ev = [[c.text() for c in r] for r in rows(events)]
    check(len(ev) > 0, "last events has rows (%d)" % len(ev))
    etype, subject, change = want_event.split("|")
    check(any(len(e) == 5 and e[1] == etype and
              (subject == "" or e[2] == subject) and e[3] == change
              for e in ev),
          "event %s listed" % " ".join(x for x in (etype, subject, change)
                                       if x))

for good, desc in results:
    print(("ok " if good else "FAIL ") + desc)
sys.exit(0 if all(g for g, _ in results) else 1)
EOF

# page_until SECONDS MODE EVENT: dump the DOM until it passes every check,
# then report the checks of the last attempt.
page_until() {
	limit=$1
	start=$(date +%s)
	while :; do
		if browse "$T/dom.html" --dump-dom; then
			ctl --json status > "$T/status.json" 2>/dev/null
			python3 "$T/check-page.py" "$T/dom.html" "$T/status.json" \
			    "$2" "$3" > "$T/check.out" 2>&1 && break
		else
			echo "FAIL chromium --dump-dom exit $rc" > "$T/check.out"
		fi
		[ $(( $(date +%s) - start )) -ge "$limit" ] && break
		sleep 1
	done
	while read -r word desc; do
		case $word in
		ok) ok "page ($2): $desc" ;;
		*) not_ok "page ($2): $word $desc" ;;
		esac
	done < "$T/check.out"
}

lab_start
CONF=$T/resguard.conf
printf 'ads.example\n*.tracker.example\nbad.example\n' > "$T/hub.txt"
sed -e "/^http: {/d" "$RG_LAB_CONF" > "$CONF"
cat >> "$CONF" <<EOF
http: { listen = [ "127.0.0.1@$HTTP_PORT" ]; };
feeds = ( { name = "hub"; format = "domains"; source = "file://$T/hub.txt"; } );
EOF
expect_exit 0 "configuration with http.listen and a feed" -- \
    "$RESGUARDD" -t -c "$CONF"
daemon_start "$CONF"
wait_until 15 "all well" -- ctl status

# A plot point is sampled every 10 s; the first may precede the probes.
page_until 40 normal "upstream|lab-primary|unknown → up"

browse "$T/shot.out" --screenshot="$T/page.png" \
    --window-size=$SHOT_W,$SHOT_H
out=$(python3 - "$T/page.png" <<'EOF'
import struct
import sys
try:
    b = open(sys.argv[1], "rb").read()
except OSError as e:
    print("no screenshot: %s" % e)
    sys.exit(0)
if b[:8] != b"\x89PNG\r\n\x1a\n" or b[12:16] != b"IHDR":
    print("not a PNG")
    sys.exit(0)
w, h = struct.unpack(">II", b[16:24])
print("%dx%d %d" % (w, h, len(b)))
EOF
)
size=${out##* }
case $out in
"$SHOT_W"x"$SHOT_H "*[0-9])
	# A blank page of that size compresses to a few kilobytes.
	[ "$size" -gt 20000 ] && ok "screenshot ${SHOT_W}x$SHOT_H, $size bytes" ||
	    not_ok "screenshot of $size bytes: blank?"
	;;
*)
	not_ok "screenshot: $out"
	;;
esac
if [ -n "${RG_PAGE_SCREENSHOT:-}" ] && [ -f "$T/page.png" ]; then
	cp "$T/page.png" "$RG_PAGE_SCREENSHOT"
fi

"$LAB" freeze primary >/dev/null
wait_until 20 "failover" -- mode_is failover
page_until 20 failover "mode||normal → failover"
"$LAB" thaw primary >/dev/null

# Chromium logs every console message of the page, errors included.
if grep -q 'CONSOLE' "$T/chromium.log"; then
	not_ok "console messages in $runs Chromium runs:"
	grep 'CONSOLE' "$T/chromium.log" | sed 's/^/     /'
else
	ok "no console message in $runs Chromium runs"
fi

finish
