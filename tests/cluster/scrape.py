"""GET a hasvcd's /metrics and read it with prometheus_client's parser
(Debian python3-prometheus-client): tests/cluster/metrics*.sh.

  scrape.py URL get NAME [LABEL=VALUE...]  the sample's value, or "absent"
  scrape.py URL check                      validate the whole text: parsed by
      the exposition-format parser, every family with HELP and TYPE, names
      with the hasvc_ prefix, counters ending in _total, no sample twice;
      prints the number of families and samples
  scrape.py URL status METHOD             the HTTP status of METHOD on URL
Exit status 1 with the reason on stderr when the scrape or the check fails.
"""
import re
import sys
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def fetch(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        ctype = r.headers.get("Content-Type", "")
        return r.status, ctype, r.read().decode("utf-8")


def families(text):
    return list(text_string_to_metric_families(text))


def get(text, name, labels):
    want = dict(kv.split("=", 1) for kv in labels)
    for fam in families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in want.items()):
                return s.value
    return None


def check(text, ctype):
    if not ctype.startswith("text/plain; version=0.0.4"):
        raise ValueError("Content-Type is %r, not the text format 0.0.4" % ctype)
    helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    fams = families(text)
    seen = set()
    n = 0
    for fam in fams:
        # The parser names a counter's family without _total.
        name = fam.name + "_total" if fam.type == "counter" else fam.name
        if not name.startswith("hasvc_"):
            raise ValueError("%s: no hasvc_ prefix" % name)
        if name not in helps or name not in types:
            raise ValueError("%s: no HELP or no TYPE line" % name)
        if types[name] != fam.type:
            raise ValueError("%s: TYPE %s parsed as %s" % (name, types[name], fam.type))
        if fam.type == "counter" and not name.endswith("_total"):
            raise ValueError("%s: a counter whose name does not end in _total" % name)
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in seen:
                raise ValueError("%s%s: twice" % key)
            seen.add(key)
            n += 1
    if set(types) - {f.name + ("_total" if f.type == "counter" else "") for f in fams}:
        raise ValueError("TYPE lines without a parsed family")
    return len(fams), n


def main():
    url, what = sys.argv[1], sys.argv[2]
    try:
        if what == "status":
            try:
                print(fetch(url, sys.argv[3])[0])
            except urllib.error.HTTPError as e:
                print(e.code)
            return 0
        _, ctype, text = fetch(url)
        if what == "get":
            v = get(text, sys.argv[3], sys.argv[4:])
            print("absent" if v is None else int(v) if float(v).is_integer() else repr(v))
        elif what == "check":
            nf, ns = check(text, ctype)
            print("%d families, %d samples" % (nf, ns))
        else:
            raise ValueError("unknown request %s" % what)
    except Exception as e:  # every failure is the test's to report
        print("scrape %s: %s: %s" % (url, type(e).__name__, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
