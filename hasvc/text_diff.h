/*
 * A line diff in the unified format, for `hactl config diff` (text_diff.c).
 */
#ifndef HASVC_TEXT_DIFF_H
#define HASVC_TEXT_DIFF_H

#include <stdbool.h>
#include <stdio.h>

/*
 * Print what turns old_text into new_text as `diff -u` does (the "---" and
 * "+++" lines name old_name and new_name, hunks have 3 lines of context).
 * 0: the texts are the same (nothing printed); 1: they differ; -ENOMEM.
 */
int text_diff__unified(FILE *out, const char *old_text, const char *new_text,
		       const char *old_name, const char *new_name);

#endif
