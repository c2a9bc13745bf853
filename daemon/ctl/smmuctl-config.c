// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * smmuctl check-config: the daemon's own loader and validation, run here,
 * so a file is judged exactly as smmud would judge it at a reload.
 */
#include "config.h"
#include "json.h"
#include "log.h"
#include "smmuctl.h"

int verb_check_config(int argc, char **argv)
{
	_cleanup_config_free_ Config *c = NULL;
	_cleanup_strv_free_ char **errors = NULL;
	/* A named file is checked alone: it is a candidate, not the installed set. */
	ConfigSource src = {
		.file = argc > 1 ? argv[1] : NULL,
		.file_required = argc > 1,
		.dropin_dir = argc > 1 ? "" : NULL,
	};
	int r;

	r = config_load(&src, &c, &errors);
	if (r == -ENOMEM)
		return log_oom(), CTL_EXIT_FAILED;
	if (r < 0 && !errors) {
		log_error_errno(r, "Failed to load the configuration: %m");
		return CTL_EXIT_FAILED;
	}

	if (arg.json) {
		JsonWriter w;

		json_init(&w, stdout, false);
		json_object_begin(&w);
		json_kv_bool(&w, "valid", r >= 0);
		json_key(&w, "files");
		json_array_begin(&w);
		for (size_t i = 0; r >= 0 && c->files && c->files[i]; i++)
			json_string(&w, c->files[i]);
		json_array_end(&w);
		json_kv_string(&w, "digest", r >= 0 ? c->digest : NULL);
		json_key(&w, "errors");
		json_array_begin(&w);
		for (size_t i = 0; errors && errors[i]; i++)
			json_string(&w, errors[i]);
		json_array_end(&w);
		json_object_end(&w);
		if (json_finish(&w) < 0)
			return log_error("Failed to write JSON output"), CTL_EXIT_FAILED;
	}

	if (r < 0) {
		for (size_t i = 0; errors && errors[i]; i++)
			fprintf(stderr, "%s\n", errors[i]);
		return CTL_EXIT_BAD_CONFIG;
	}
	if (!arg.json) {
		if (!c->files || !c->files[0])
			printf("No configuration file: compiled-in defaults.\n");
		for (size_t i = 0; c->files && c->files[i]; i++)
			printf("%s: valid\n", c->files[i]);
		printf("digest %s\n", c->digest);
	}
	return CTL_EXIT_OK;
}
