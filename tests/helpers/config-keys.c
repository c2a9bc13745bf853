// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * config-keys: prints every key smmud's configuration parser accepts, one
 * "Section.Key" a line, from the parser's own table (config_list_keys()),
 * so the man page check compares the pages with the code, not a copy.
 */
#include <stdio.h>

#include "config.h"

int main(void)
{
	_cleanup_strv_free_ char **keys = NULL;

	if (config_list_keys(&keys) < 0) {
		fprintf(stderr, "config-keys: out of memory\n");
		return 1;
	}
	for (size_t i = 0; keys[i]; i++)
		printf("%s\n", keys[i]);
	return 0;
}
