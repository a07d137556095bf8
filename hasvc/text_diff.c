/*
 * A line diff in the unified format (diff -u) for `hactl config diff`: what
 * applying a file would change in the text the cluster runs.  Pure: two
 * strings in, text on a FILE out (hasvc/text_diff.h).
 *
 * The edit script is a longest common subsequence of the lines that differ
 * once the common head and tail are taken off.  Configuration files are
 * small, so the quadratic table is fine; past TEXT_DIFF_TABLE_MAX cells the
 * differing middle is shown as removed and added whole, which is still a
 * correct (if longer) diff.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/text_diff.h"

#define TEXT_DIFF_TABLE_MAX (4u << 20)
#define CONTEXT 3

struct line {
	const char *s;
	size_t len;      /* without the newline */
	bool newline;    /* false: the text's last line has none */
};

struct lines {
	struct line *v;
	size_t n;
};

static int split(const char *text, struct lines *out)
{
	size_t cap = 1;

	for (const char *p = text; *p; p++)
		cap += *p == '\n';
	out->n = 0;
	out->v = calloc(cap, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	while (*text) {
		const char *nl = strchr(text, '\n');
		struct line *l = &out->v[out->n++];

		l->s = text;
		l->len = nl ? (size_t)(nl - text) : strlen(text);
		l->newline = nl != NULL;
		text += l->len + (nl != NULL);
	}
	return 0;
}

static bool same(const struct line *a, const struct line *b)
{
	return a->len == b->len && a->newline == b->newline && !memcmp(a->s, b->s, a->len);
}

/*
 * ops[k] for the merged sequence: '=' (both), '-' (old only), '+' (new
 * only), in order; *nops set.  The middle old[p..p+n), new[p..p+m).
 */
static int script_middle(const struct lines *a, const struct lines *b, size_t p, size_t n,
			 size_t m, char *ops, size_t *k)
{
	uint32_t *t;
	size_t i = 0, j = 0, w = m + 1;

	if (n && m && (n + 1) * w <= TEXT_DIFF_TABLE_MAX) {
		t = calloc((n + 1) * w, sizeof(*t));
		if (!t)
			return -ENOMEM;
		/* t[i][j]: the LCS length of old[p+i..] and new[p+j..]. */
		for (size_t ii = n; ii-- > 0;)
			for (size_t jj = m; jj-- > 0;)
				t[ii * w + jj] = same(&a->v[p + ii], &b->v[p + jj]) ?
					t[(ii + 1) * w + jj + 1] + 1 :
					t[(ii + 1) * w + jj] >= t[ii * w + jj + 1] ?
					t[(ii + 1) * w + jj] : t[ii * w + jj + 1];
		while (i < n && j < m) {
			if (same(&a->v[p + i], &b->v[p + j])) {
				ops[(*k)++] = '=';
				i++, j++;
			} else if (t[(i + 1) * w + j] >= t[i * w + j + 1]) {
				ops[(*k)++] = '-';
				i++;
			} else {
				ops[(*k)++] = '+';
				j++;
			}
		}
		free(t);
	}
	for (; i < n; i++)
		ops[(*k)++] = '-';
	for (; j < m; j++)
		ops[(*k)++] = '+';
	return 0;
}

static void put_line(FILE *out, char mark, const struct line *l)
{
	fputc(mark, out);
	fwrite(l->s, 1, l->len, out);
	fputc('\n', out);
	if (!l->newline)
		fputs("\\ No newline at end of file\n", out);
}

/* diff's numbering: an empty range names the line before it. */
static void range(FILE *out, char sign, size_t start, size_t count)
{
	fprintf(out, "%c%zu", sign, count ? start + 1 : start);
	if (count != 1)
		fprintf(out, ",%zu", count);
}

/* One hunk: ops[from..to), the old and new line numbers at from (0-based). */
static void hunk(FILE *out, const char *ops, size_t from, size_t to, size_t ai, size_t bi,
		 const struct lines *a, const struct lines *b)
{
	size_t na = 0, nb = 0;

	for (size_t k = from; k < to; k++) {
		na += ops[k] != '+';
		nb += ops[k] != '-';
	}
	fputs("@@ ", out);
	range(out, '-', ai, na);
	fputc(' ', out);
	range(out, '+', bi, nb);
	fputs(" @@\n", out);
	for (size_t k = from; k < to; k++) {
		if (ops[k] == '=')
			put_line(out, ' ', &a->v[ai++]), bi++;
		else if (ops[k] == '-')
			put_line(out, '-', &a->v[ai++]);
		else
			put_line(out, '+', &b->v[bi++]);
	}
}

/* Group the changes with CONTEXT lines around them into hunks. */
static void print_hunks(FILE *out, const char *ops, size_t nops, const struct lines *a,
			const struct lines *b)
{
	size_t k = 0, ai = 0, bi = 0;

	while (k < nops) {
		size_t start, end, last, sa, sb;

		while (k < nops && ops[k] == '=')
			k++, ai++, bi++;
		if (k == nops)
			break;
		start = k >= CONTEXT ? k - CONTEXT : 0;
		sa = ai - (k - start);
		sb = bi - (k - start);
		/* Extend while the next change is within 2 * CONTEXT equal lines. */
		last = k;
		for (end = k; end < nops; end++) {
			if (ops[end] != '=')
				last = end;
			else if (end - last > 2 * CONTEXT)
				break;
		}
		end = last + 1 + CONTEXT < nops ? last + 1 + CONTEXT : nops;
		hunk(out, ops, start, end, sa, sb, a, b);
		for (; k < end; k++) {
			ai += ops[k] != '+';
			bi += ops[k] != '-';
		}
	}
}

int text_diff__unified(FILE *out, const char *old_text, const char *new_text,
		       const char *old_name, const char *new_name)
{
	struct lines a = { 0 }, b = { 0 };
	size_t p = 0, s = 0, nops = 0;
	char *ops = NULL;
	int ret;

	ret = split(old_text, &a);
	if (!ret)
		ret = split(new_text, &b);
	if (ret)
		goto out;
	while (p < a.n && p < b.n && same(&a.v[p], &b.v[p]))
		p++;
	while (s < a.n - p && s < b.n - p && same(&a.v[a.n - 1 - s], &b.v[b.n - 1 - s]))
		s++;
	if (p == a.n && p == b.n)
		goto out; /* ret 0: the same */
	ops = malloc(a.n + b.n);
	if (!ops) {
		ret = -ENOMEM;
		goto out;
	}
	memset(ops, '=', p);
	nops = p;
	ret = script_middle(&a, &b, p, a.n - p - s, b.n - p - s, ops, &nops);
	if (ret)
		goto out;
	memset(ops + nops, '=', s);
	nops += s;
	fprintf(out, "--- %s\n+++ %s\n", old_name, new_name);
	print_hunks(out, ops, nops, &a, &b);
	ret = 1;
out:
	free(ops);
	free(a.v);
	free(b.v);
	return ret;
}
