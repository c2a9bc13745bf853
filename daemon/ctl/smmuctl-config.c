// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * smmuctl check-config: the daemon's own loader and validation, run here,
 * so a file is judged exactly as smmud would judge it at a reload.
 * smmuctl config: the configuration the running smmud uses (GetConfig).
 */
#include <libgen.h>

#include "config.h"
#include "json.h"
#include "profile.h"
#include "log.h"
#include "smmuctl-bus.h"
#include "smmuctl.h"

/*
 * Valid text can still name a metrics file smmud cannot write (a missing
 * directory, a read-only one): said as a warning, not an error, since the
 * host that will run the file may not be this one.  Which directories the
 * unit makes writable is the unit's (ReadWritePaths=, smmud.conf(5)).
 */
static int metrics_file_warning(const Config *c, char **ret)
{
	_cleanup_free_ char *copy = NULL, *in_root = NULL;
	const char *dir;

	*ret = NULL;
	if (!c->metrics_file)
		return 0;
	copy = strdup(c->metrics_file);
	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	/* Under --root, the directory of that host. */
	in_root = root_path(arg.root ?: "/", dir);
	if (!in_root)
		return -ENOMEM;
	if (access(in_root, W_OK) >= 0)
		return 0;
	return asprintf(ret, "MetricsFile=%s: smmud cannot write in %s: %m", c->metrics_file,
			dir) < 0 ? -ENOMEM : 0;
}

int verb_check_config(int argc, char **argv)
{
	_cleanup_free_ char *warning = NULL, *root_file = NULL, *root_dir = NULL;
	_cleanup_config_free_ Config *c = NULL;
	_cleanup_strv_free_ char **errors = NULL;
	/* A named file is checked alone: it is a candidate, not the installed set. */
	ConfigSource src = {
		.file = argc > 1 ? argv[1] : NULL,
		.file_required = argc > 1,
		.dropin_dir = argc > 1 ? "" : NULL,
	};
	int r;

	/* --root: the set a host with that root would run, so the same digest. */
	if (arg.root) {
		if (argc > 1)
			return ctl_usage_error("check-config --root=%s checks the configuration "
					       "installed there: no FILE (stage it there)", arg.root);
		root_file = root_path(arg.root, SMMUD_CONFIG_FILE);
		root_dir = root_path(arg.root, SMMUD_CONFIG_DIR);
		if (!root_file || !root_dir)
			return log_oom(), CTL_EXIT_FAILED;
		src.file = root_file;
		src.dropin_dir = root_dir;
	}
	r = config_load(&src, &c, &errors);
	if (r == -ENOMEM)
		return log_oom(), CTL_EXIT_FAILED;
	if (r < 0 && !errors) {
		log_error_errno(r, "Failed to load the configuration: %m");
		return CTL_EXIT_FAILED;
	}
	if (r >= 0 && metrics_file_warning(c, &warning) < 0)
		return log_oom(), CTL_EXIT_FAILED;

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
		json_key(&w, "warnings");
		json_array_begin(&w);
		if (warning)
			json_string(&w, warning);
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
	if (warning)
		fprintf(stderr, "Warning: %s\n", warning);
	return CTL_EXIT_OK;
}

/*
 * Where this host falls in each canary profile of the running
 * configuration: comments, so the output stays a configuration file.  The
 * slot is the one smmud computes (profile.c), from this host's machine id.
 */
static void print_canary_slots(const char *dump)
{
	_cleanup_config_free_ Config *c = config_new_defaults();
	_cleanup_strv_free_ char **errors = NULL;
	_cleanup_free_ char *path = NULL, *machine_id = NULL;
	FILE *f;
	int r;

	if (!c)
		return;
	/* A real file: the parser checks what it reads (its owner, its size) with fstat(). */
	f = tmpfile();
	if (!f)
		return;
	if (fputs(dump, f) < 0 || fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return;
	}
	r = config_parse_stream(c, f, "GetConfig", &errors);
	fclose(f);
	if (r < 0) {
		log_debug_errno(r, "Cannot read the canary profiles of the running configuration: %s",
				errors && errors[0] ? errors[0] : "(no message)");
		return;
	}
	path = path_join(arg.root ?: "/", "etc/machine-id");
	for (size_t i = 0; i < c->n_profiles; i++) {
		const Profile *p = &c->profiles[i];
		unsigned slot;

		if (p->match.canary_percent >= 100)
			continue;
		if (!machine_id && (!path || read_one_line_file(path, &machine_id) < 0)) {
			printf("# canary: profile %s (Canary=%u%%): this host's slot is unknown (no %s)\n",
			       p->name, p->match.canary_percent, path ?: "machine id");
			continue;
		}
		slot = canary_slot(machine_id, p->name);
		printf("# canary: profile %s (Canary=%u%%): this host's slot is %u.%02u%%, so it is %s\n",
		       p->name, p->match.canary_percent, slot / 100, slot % 100,
		       slot < p->match.canary_percent * 100 ? "in" : "out");
	}
}

int verb_config(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_strv_free_ char **files = NULL;
	const char *dump, *digest;
	int r;

	r = ctl_bus_open(&bus);
	if (r > 0)
		return r;
	r = ctl_call(bus, "GetConfig", &reply, NULL);
	if (r > 0)
		return r;
	r = sd_bus_message_read(reply, "ss", &dump, &digest);
	if (r >= 0)
		r = sd_bus_message_read_strv(reply, &files);
	if (r < 0)
		return log_error_errno(r, "Failed to read GetConfig's reply: %m"), CTL_EXIT_FAILED;

	if (arg.json) {
		JsonWriter w;

		json_init(&w, stdout, false);
		json_object_begin(&w);
		json_kv_string(&w, "digest", digest);
		json_key(&w, "files");
		json_array_begin(&w);
		for (size_t i = 0; files && files[i]; i++)
			json_string(&w, files[i]);
		json_array_end(&w);
		json_kv_string(&w, "text", dump);
		json_object_end(&w);
		if (json_finish(&w) < 0)
			return log_error("Failed to write JSON output"), CTL_EXIT_FAILED;
		return CTL_EXIT_OK;
	}
	/* Comments, so that the output is itself a configuration file. */
	if (!files || !files[0])
		printf("# No configuration file: compiled-in defaults.\n");
	for (size_t i = 0; files && files[i]; i++)
		printf("# %s\n", files[i]);
	printf("# digest %s\n", digest);
	print_canary_slots(dump);
	printf("%s", dump);
	if (*dump && !endswith(dump, "\n"))
		putchar('\n');
	return CTL_EXIT_OK;
}
