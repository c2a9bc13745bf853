// SPDX-License-Identifier: GPL-2.0-or-later
/* smmuctl status: the host, each SMMU with its knobs and storm state, the VMs. */
#include <inttypes.h>

#include "json.h"
#include "log.h"
#include "smmuctl-bus.h"
#include "smmuctl-table.h"
#include "smmuctl.h"

#define N_KNOB_FIELDS 8
static const char *const knob_fields[N_KNOB_FIELDS] = {
	"name", "current", "desired", "baseline", "storm", "original", "owner", "owner_reason",
};

typedef struct CtlKnob {
	char *f[N_KNOB_FIELDS];
} CtlKnob;

/* One a{sv} entry of GetSmmus, kept as what it is. */
typedef struct CtlField {
	char *key;
	char type;     /* 's', 'b', 'u', 't' */
	char *s;
	uint64_t u;
} CtlField;

typedef struct CtlSmmu {
	CtlField *fields;
	size_t n_fields;
	CtlKnob *knobs;
	size_t n_knobs;
} CtlSmmu;

typedef struct CtlVm {
	uint32_t pid;
	char *name, *comm, *unit;
	uint64_t pinned;
	char **smmus;
} CtlVm;

static const CtlField *field(const CtlSmmu *s, const char *key)
{
	for (size_t i = 0; i < s->n_fields; i++)
		if (streq(s->fields[i].key, key))
			return &s->fields[i];
	return NULL;
}

static const char *field_s(const CtlSmmu *s, const char *key)
{
	const CtlField *f = field(s, key);

	return f && f->type == 's' ? f->s : "";
}

static uint64_t field_u(const CtlSmmu *s, const char *key)
{
	const CtlField *f = field(s, key);

	return f && f->type != 's' ? f->u : 0;
}

static void smmus_free(CtlSmmu *smmus, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < smmus[i].n_fields; j++) {
			free(smmus[i].fields[j].key);
			free(smmus[i].fields[j].s);
		}
		for (size_t j = 0; j < smmus[i].n_knobs; j++)
			for (size_t k = 0; k < N_KNOB_FIELDS; k++)
				free(smmus[i].knobs[j].f[k]);
		free(smmus[i].fields);
		free(smmus[i].knobs);
	}
	free(smmus);
}

static void vm_done(CtlVm *vm)
{
	free(vm->name);
	free(vm->comm);
	free(vm->unit);
	strv_free(vm->smmus);
}

static void vms_free(CtlVm *vms, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vm_done(&vms[i]);
	free(vms);
}

static int read_knobs(sd_bus_message *m, CtlSmmu *s)
{
	int r;

	r = sd_bus_message_enter_container(m, 'a', "(ssssssss)");
	if (r < 0)
		return r;
	for (;;) {
		const char *v[N_KNOB_FIELDS];
		CtlKnob *n;

		r = sd_bus_message_read(m, "(ssssssss)", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
					&v[6], &v[7]);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		n = realloc(s->knobs, (s->n_knobs + 1) * sizeof(CtlKnob));
		if (!n)
			return -ENOMEM;
		s->knobs = n;
		for (size_t k = 0; k < N_KNOB_FIELDS; k++)
			if (!(n[s->n_knobs].f[k] = strdup(v[k])))
				return -ENOMEM;
		s->n_knobs++;
	}
	return sd_bus_message_exit_container(m);
}

static int read_smmu(sd_bus_message *m, CtlSmmu *s)
{
	int r;

	for (;;) {
		const char *key, *contents;
		CtlField f = {};
		CtlField *n;

		r = sd_bus_message_enter_container(m, 'e', "sv");
		if (r <= 0)
			return r;
		r = sd_bus_message_read(m, "s", &key);
		if (r >= 0)
			r = sd_bus_message_peek_type(m, NULL, &contents);
		if (r < 0)
			return r;
		r = sd_bus_message_enter_container(m, 'v', contents);
		if (r < 0)
			return r;
		if (streq(key, "Knobs") && streq(contents, "a(ssssssss)")) {
			r = read_knobs(m, s);
			if (r < 0)
				return r;
		} else if (strlen(contents) == 1 && strchr("sbut", contents[0])) {
			const char *str;
			int b;
			uint32_t u32;

			f.type = contents[0];
			switch (f.type) {
			case 's':
				r = sd_bus_message_read(m, "s", &str);
				if (r >= 0 && !(f.s = strdup(str)))
					r = -ENOMEM;
				break;
			case 'b':
				r = sd_bus_message_read(m, "b", &b);
				f.u = b;
				break;
			case 'u':
				r = sd_bus_message_read(m, "u", &u32);
				f.u = u32;
				break;
			default:
				r = sd_bus_message_read(m, "t", &f.u);
			}
			if (r < 0 || !(f.key = strdup(key))) {
				free(f.s);
				return r < 0 ? r : -ENOMEM;
			}
			n = realloc(s->fields, (s->n_fields + 1) * sizeof(CtlField));
			if (!n) {
				free(f.s);
				free(f.key);
				return -ENOMEM;
			}
			s->fields = n;
			s->fields[s->n_fields++] = f;
		} else {
			/* A field a newer smmud added: skip it. */
			r = sd_bus_message_skip(m, contents);
			if (r < 0)
				return r;
		}
		r = sd_bus_message_exit_container(m);
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
}

static int get_smmus(sd_bus *bus, CtlSmmu **ret, size_t *ret_n)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	CtlSmmu *smmus = NULL;
	size_t n = 0;
	int r;

	r = ctl_call(bus, "GetSmmus", &reply, NULL);
	if (r > 0)
		return r;
	r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
	while (r >= 0) {
		CtlSmmu *nn;

		r = sd_bus_message_enter_container(reply, 'a', "{sv}");
		if (r <= 0)
			break;
		nn = realloc(smmus, (n + 1) * sizeof(CtlSmmu));
		if (!nn) {
			r = -ENOMEM;
			break;
		}
		smmus = nn;
		smmus[n++] = (CtlSmmu){};
		r = read_smmu(reply, &smmus[n - 1]);
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
	}
	if (r < 0) {
		smmus_free(smmus, n);
		log_error_errno(r, "Failed to parse smmud's reply: %m");
		return CTL_EXIT_FAILED;
	}
	*ret = smmus;
	*ret_n = n;
	return 0;
}

static int get_vms(sd_bus *bus, CtlVm **ret, size_t *ret_n)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	CtlVm *vms = NULL;
	size_t n = 0;
	int r;

	r = ctl_call(bus, "GetVms", &reply, NULL);
	if (r > 0)
		return r;
	r = sd_bus_message_enter_container(reply, 'a', "(ussstas)");
	while (r >= 0) {
		const char *name, *comm, *unit;
		CtlVm vm = {}, *nn;

		r = sd_bus_message_enter_container(reply, 'r', "ussstas");
		if (r <= 0)
			break;
		r = sd_bus_message_read(reply, "ussst", &vm.pid, &name, &comm, &unit, &vm.pinned);
		if (r >= 0)
			r = sd_bus_message_read_strv(reply, &vm.smmus);
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
		if (r < 0)
			break;
		vm.name = strdup(name);
		vm.comm = strdup(comm);
		vm.unit = strdup(unit);
		nn = realloc(vms, (n + 1) * sizeof(CtlVm));
		if (!nn || !vm.name || !vm.comm || !vm.unit) {
			vm_done(&vm);
			vms = nn ?: vms;
			r = -ENOMEM;
			break;
		}
		vms = nn;
		vms[n++] = vm;
	}
	if (r < 0) {
		vms_free(vms, n);
		log_error_errno(r, "Failed to parse smmud's reply: %m");
		return CTL_EXIT_FAILED;
	}
	*ret = vms;
	*ret_n = n;
	return 0;
}

typedef struct Host {
	char *version, *hostname, *kernel, *digest, *status, *shutdown_reason;
	char **files;
	int dry_run, shutdown;
} Host;

static int get_host(sd_bus *bus, Host *h)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct {
		const char *name;
		char **dest;
	} strings[] = {
		{ "Version", &h->version },	{ "Hostname", &h->hostname },
		{ "KernelCapability", &h->kernel }, { "ConfigDigest", &h->digest },
		{ "Status", &h->status },	{ "ShutdownReason", &h->shutdown_reason },
	};
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int r;

	r = ctl_call(bus, "GetConfig", &reply, NULL);
	if (r > 0)
		return r;
	r = sd_bus_message_skip(reply, "ss");
	if (r >= 0)
		r = sd_bus_message_read_strv(reply, &h->files);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(strings); i++)
		r = sd_bus_get_property_string(bus, arg.system_bus ? "org.smmud1" : NULL,
					       "/org/smmud1", "org.smmud1.Manager", strings[i].name,
					       &error, strings[i].dest);
	if (r >= 0)
		r = sd_bus_get_property_trivial(bus, arg.system_bus ? "org.smmud1" : NULL,
						"/org/smmud1", "org.smmud1.Manager", "DryRun",
						&error, 'b', &h->dry_run);
	if (r >= 0)
		r = sd_bus_get_property_trivial(bus, arg.system_bus ? "org.smmud1" : NULL,
						"/org/smmud1", "org.smmud1.Manager",
						"ShutdownAnnounced", &error, 'b', &h->shutdown);
	if (r < 0) {
		int status = ctl_exit_for_error(&error, r);

		if (sd_bus_error_is_set(&error))
			fprintf(stderr, "%s\n", error.message ?: error.name);
		else
			log_error_errno(r, "Failed to read smmud's state: %m");
		sd_bus_error_free(&error);
		return status;
	}
	return 0;
}

static void host_done(Host *h)
{
	free(h->version);
	free(h->hostname);
	free(h->kernel);
	free(h->digest);
	free(h->status);
	free(h->shutdown_reason);
	strv_free(h->files);
}

static bool selected(char **names, const char *name)
{
	if (!names || !names[0])
		return true;
	for (size_t i = 0; names[i]; i++)
		if (streq(names[i], name))
			return true;
	return false;
}

static bool vm_behind(const CtlVm *vm, const char *smmu)
{
	for (size_t i = 0; vm->smmus && vm->smmus[i]; i++)
		if (streq(vm->smmus[i], smmu))
			return true;
	return false;
}

static int print_json(const Host *h, const CtlSmmu *smmus, size_t n, const CtlVm *vms,
		      size_t n_vms, char **names)
{
	JsonWriter w;

	json_init(&w, stdout, false);
	json_object_begin(&w);
	json_kv_string(&w, "version", h->version);
	json_kv_string(&w, "hostname", h->hostname);
	json_kv_string(&w, "kernel", h->kernel);
	json_kv_bool(&w, "dry_run", h->dry_run);
	json_kv_string(&w, "status", h->status);
	json_key(&w, "shutdown");
	json_object_begin(&w);
	json_kv_bool(&w, "announced", h->shutdown);
	json_kv_string(&w, "reason", h->shutdown_reason);
	json_object_end(&w);
	json_key(&w, "config");
	json_object_begin(&w);
	json_kv_string(&w, "digest", h->digest);
	json_key(&w, "files");
	json_array_begin(&w);
	for (size_t i = 0; h->files && h->files[i]; i++)
		json_string(&w, h->files[i]);
	json_array_end(&w);
	json_object_end(&w);

	json_key(&w, "smmus");
	json_array_begin(&w);
	for (size_t i = 0; i < n; i++) {
		const CtlSmmu *s = &smmus[i];

		if (!selected(names, field_s(s, "Name")))
			continue;
		json_object_begin(&w);
		for (size_t j = 0; j < s->n_fields; j++) {
			const CtlField *f = &s->fields[j];
			char key[64];
			size_t k = 0;

			/* CamelCase to snake_case: "RangeInvalidation" -> "range_invalidation". */
			for (const char *c = f->key; *c && k + 2 < sizeof(key); c++) {
				if (*c >= 'A' && *c <= 'Z') {
					if (c != f->key && !(c[-1] >= 'A' && c[-1] <= 'Z'))
						key[k++] = '_';
					key[k++] = (char)(*c - 'A' + 'a');
				} else
					key[k++] = *c;
			}
			key[k] = 0;
			json_key(&w, key);
			if (f->type == 's')
				json_string(&w, f->s);
			else if (f->type == 'b')
				json_bool(&w, f->u);
			else
				json_u64(&w, f->u);
		}
		/* smmud leaves it out where it cannot know it (no arm-smmu-v3 attributes). */
		if (!field(s, "RangeInvalidation")) {
			json_key(&w, "range_invalidation");
			json_null(&w);
		}
		json_key(&w, "knobs");
		json_array_begin(&w);
		for (size_t j = 0; j < s->n_knobs; j++) {
			json_object_begin(&w);
			for (size_t k = 0; k < N_KNOB_FIELDS; k++)
				json_kv_string(&w, knob_fields[k], s->knobs[j].f[k]);
			json_object_end(&w);
		}
		json_array_end(&w);
		json_object_end(&w);
	}
	json_array_end(&w);

	json_key(&w, "vms");
	json_array_begin(&w);
	for (size_t i = 0; i < n_vms; i++) {
		bool any = !names || !names[0];

		for (size_t j = 0; !any && names[j]; j++)
			any = vm_behind(&vms[i], names[j]);
		if (!any)
			continue;
		json_object_begin(&w);
		json_kv_u64(&w, "pid", vms[i].pid);
		json_kv_string(&w, "name", vms[i].name);
		json_kv_string(&w, "comm", vms[i].comm);
		json_kv_string(&w, "unit", vms[i].unit);
		json_kv_u64(&w, "pinned_bytes", vms[i].pinned);
		json_key(&w, "smmus");
		json_array_begin(&w);
		for (size_t j = 0; vms[i].smmus && vms[i].smmus[j]; j++)
			json_string(&w, vms[i].smmus[j]);
		json_array_end(&w);
		json_object_end(&w);
	}
	json_array_end(&w);
	json_object_end(&w);
	return json_finish(&w) < 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

static int print_human(const Host *h, const CtlSmmu *smmus, size_t n, const CtlVm *vms,
		       size_t n_vms, char **names)
{
	static const char *const smmu_headers[] = { "SMMU", "MODE", "RIL", "STORM", "REASON",
						    "OVERRIDE", "PROFILE", ">VMS", ">PINNED" };
	static const char *const knob_headers[] = { "SMMU", "KNOB", "CURRENT", "DESIRED",
						    "BASELINE", "STORM", "ORIGINAL", "OWNER" };
	static const char *const vm_headers[] = { ">PID", "NAME", "UNIT", ">PINNED", "SMMUS" };
	_cleanup_table_free_ Table *ts = table_new(ELEMENTSOF(smmu_headers), smmu_headers);
	_cleanup_table_free_ Table *tk = table_new(ELEMENTSOF(knob_headers), knob_headers);
	_cleanup_table_free_ Table *tv = table_new(ELEMENTSOF(vm_headers), vm_headers);
	char buf[32];
	int r = 0;

	if (!ts || !tk || !tv)
		return log_oom(), CTL_EXIT_FAILED;
	printf("Host: %s, kernel: %s, smmud %s%s\n", or_dash(h->hostname), or_dash(h->kernel),
	       or_dash(h->version), h->dry_run ? " (dry run: writes nothing)" : "");
	printf("Status: %s\n", or_dash(h->status));
	if (h->shutdown)
		printf("Host shutdown announced: %s\n", or_dash(h->shutdown_reason));
	printf("Config: %s", h->digest);
	for (size_t i = 0; h->files && h->files[i]; i++)
		printf("%s%s", i ? ", " : " from ", h->files[i]);
	printf("%s\n\n", h->files && h->files[0] ? "" : " (compiled-in defaults)");

	for (size_t i = 0; i < n && r >= 0; i++) {
		const CtlSmmu *s = &smmus[i];
		const char *name = field_s(s, "Name");

		if (!selected(names, name))
			continue;
		r = table_add(ts, name);
		r = r ?: table_add(ts, field_s(s, "Mode"));
		r = r ?: table_add(ts, !field(s, "RangeInvalidation") ? "unknown" :
				       field_u(s, "RangeInvalidation") ? "yes" : "no");
		r = r ?: table_add(ts, field_u(s, "Storm") ? "STORM" : "no");
		r = r ?: table_add(ts, or_dash(field_s(s, "Reason")));
		r = r ?: table_add(ts, or_dash(field_s(s, "Override")));
		r = r ?: table_add(ts, or_dash(field_s(s, "Profile")));
		r = r ?: table_addf(ts, "%" PRIu64, field_u(s, "Vms"));
		r = r ?: table_add(ts, format_size_human(buf, sizeof(buf), field_u(s, "PinnedBytes")));
		for (size_t j = 0; r >= 0 && j < s->n_knobs; j++) {
			r = table_add(tk, name);
			for (size_t k = 0; r >= 0 && k < 7; k++)
				r = table_add(tk, or_dash(s->knobs[j].f[k]));
		}
	}
	for (size_t i = 0; i < n_vms && r >= 0; i++) {
		_cleanup_free_ char *list = NULL;
		bool any = !names || !names[0];

		for (size_t j = 0; !any && names[j]; j++)
			any = vm_behind(&vms[i], names[j]);
		if (!any)
			continue;
		for (size_t j = 0; vms[i].smmus && vms[i].smmus[j]; j++) {
			char *nl;

			if (asprintf(&nl, "%s%s%s", list ?: "", list ? "," : "", vms[i].smmus[j]) < 0)
				return log_oom(), CTL_EXIT_FAILED;
			free(list);
			list = nl;
		}
		r = table_addf(tv, "%" PRIu32, vms[i].pid);
		r = r ?: table_add(tv, *vms[i].name ? vms[i].name : vms[i].comm);
		r = r ?: table_add(tv, or_dash(vms[i].unit));
		r = r ?: table_add(tv, format_size_human(buf, sizeof(buf), vms[i].pinned));
		r = r ?: table_add(tv, or_dash(list));
	}
	if (r < 0)
		return log_oom(), CTL_EXIT_FAILED;

	table_print_or(ts, stdout, arg.legend, "No SMMUv3 found.");
	printf("\n");
	table_print_or(tk, stdout, arg.legend,
		       "No knobs: no SMMU has smmud's tunables (see the SMMUs' mode).");
	printf("\n");
	table_print_or(tv, stdout, arg.legend, "No VMs.");
	for (size_t i = 0; i < n; i++)
		if (selected(names, field_s(&smmus[i], "Name")) && *field_s(&smmus[i], "Why"))
			printf("%s%s: %s\n", i == 0 ? "\n" : "", field_s(&smmus[i], "Name"),
			       field_s(&smmus[i], "Why"));
	/* A mode other than managed, with its reason (smmud sends it for those only). */
	for (size_t i = 0; i < n; i++)
		if (selected(names, field_s(&smmus[i], "Name")) && *field_s(&smmus[i], "ModeWhy"))
			printf("%s: %s: %s\n", field_s(&smmus[i], "Name"),
			       field_s(&smmus[i], "Mode"), field_s(&smmus[i], "ModeWhy"));
	return CTL_EXIT_OK;
}

int verb_status(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	CtlSmmu *smmus = NULL;
	CtlVm *vms = NULL;
	size_t n = 0, n_vms = 0;
	Host h = {};
	int r;

	r = ctl_bus_open(&bus);
	if (r > 0)
		return r;
	r = get_host(bus, &h);
	if (r == 0)
		r = get_smmus(bus, &smmus, &n);
	if (r == 0)
		r = get_vms(bus, &vms, &n_vms);
	if (r == 0)
		for (int i = 1; i < argc; i++) {
			bool found = false;

			for (size_t j = 0; j < n && !found; j++)
				found = streq(field_s(&smmus[j], "Name"), argv[i]);
			if (!found) {
				log_error("No SMMU named '%s'", argv[i]);
				r = CTL_EXIT_FAILED;
				break;
			}
		}
	if (r == 0)
		r = arg.json ? print_json(&h, smmus, n, vms, n_vms, argv + 1)
			     : print_human(&h, smmus, n, vms, n_vms, argv + 1);
	host_done(&h);
	smmus_free(smmus, n);
	vms_free(vms, n_vms);
	return r;
}
