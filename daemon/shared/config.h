/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * smmud's configuration: /etc/smmud/smmud.conf and smmud.conf.d/ *.conf in
 * lexical order, parsed with inih into a fresh Config and validated as a
 * whole.  Nothing here touches running state: the caller swaps a loaded
 * Config in only when config_load() succeeded, so a bad file changes
 * nothing.  Callable without a daemon (smmuctl check-config, fuzzers).
 *
 * What a load reads and reports is bounded (smmud.conf(5), LIMITS), so a
 * file of junk costs a reload milliseconds and a few log lines, never the
 * watchdog's patience: lines of at most CONFIG_LINE_MAX bytes, files of at
 * most CONFIG_FILE_SIZE_MAX, CONFIG_TOTAL_SIZE_MAX for all of them,
 * CONFIG_DROPINS_MAX drop-ins, CONFIG_PROFILES_MAX profiles, and the first
 * CONFIG_ERRORS_MAX errors (then one line with how many more there were).
 *
 *   [Manager]   ExternalChange= DriftCheckInterval= ScanInterval= Manage=
 *               Machined= TaskStats= ProcConnector= AdminGroup= ReaderGroup=
 *               MetricsFile=
 *   [Trigger]   Window= ExitLimit= PinnedLimit= HoldTime= OnShutdown=
 *               OnVmStop= OnGuestsStop=
 *   [Baseline]  Threshold= TeardownMode=
 *   [Storm]     Threshold= TeardownMode=
 *   [Profile NAME]  Match*= keys, Canary=, and any per-SMMU setting
 *               (Window= ... Manage=, BaselineThreshold=, StormThreshold=,
 *               BaselineTeardownMode=, StormTeardownMode=) overriding the
 *               sections above for the SMMUs it matches (profile.h).
 */

#include "sha256.h"
#include "util.h"
#include "values.h"

#define SMMUD_CONFIG_FILE SYSCONFDIR "/smmud/smmud.conf"
#define SMMUD_CONFIG_DIR SYSCONFDIR "/smmud/smmud.conf.d"

/*
 * Bytes of a line, without its newline: what Debian's libinih has room
 * for (its compiled INI_MAX_LINE of 200, less the newline and the NUL).
 */
#define CONFIG_LINE_MAX 198
#define CONFIG_FILE_SIZE_MAX 262144          /* bytes of one file (256 KiB) */
#define CONFIG_TOTAL_SIZE_MAX 1048576        /* bytes of all files together (1 MiB) */
#define CONFIG_DROPINS_MAX 128
#define CONFIG_PROFILES_MAX 64
#define CONFIG_ERRORS_MAX 20                  /* kept; more are only counted */

typedef enum ExternalChange {
	/* Someone else wrote the knob: leave it to them from now on. */
	EXTERNAL_CHANGE_RELEASE,
	/* Log it and write our value again at the next decision. */
	EXTERNAL_CHANGE_REASSERT,
	_EXTERNAL_CHANGE_MAX,
} ExternalChange;

typedef enum KernelCapability {
	KERNEL_CAP_NONE,      /* neither: monitor only */
	KERNEL_CAP_TUNABLES,  /* our series: arm-smmu-v3/ attributes */
	KERNEL_CAP_MAINLINE,  /* >= 7.1: built-in threshold, nothing to tune */
	_KERNEL_CAP_MAX,
} KernelCapability;

const char *kernel_capability_to_string(KernelCapability k);
const char *external_change_to_string(ExternalChange e);

/* Everything that can differ per SMMU (and so per profile). */
typedef struct SmmuSettings {
	bool manage;               /* no: observe and report only */
	uint64_t window_usec;      /* exits and pinned memory are counted over this */
	uint32_t exit_limit;       /* exits within Window that start a storm; 0 = off */
	uint64_t pinned_limit;     /* bytes torn down within Window; 0 = off */
	uint64_t hold_usec;        /* quiet time before a storm ends */
	bool storm_on_shutdown;
	bool count_vm_stops;       /* a stop job for a VM's scope counts as its exit, early */
	bool storm_on_guests_stop; /* libvirt-guests.service stopping every guest is a storm */
	KnobValues baseline;
	KnobValues storm;
} SmmuSettings;

typedef struct ProfileMatch {
	char *hostname_glob;        /* NULL: any */
	char *smmu_glob;            /* NULL: any */
	int range_invalidation;     /* -1: any, else 0/1 */
	int kernel;                 /* -1: any, else a KernelCapability */
	unsigned smmu_count_min;
	unsigned smmu_count_max;    /* UINT_MAX: no upper bound */
	unsigned canary_percent;    /* 100: every host */
} ProfileMatch;

/* Keys of the key table in config.c; the first ones are SmmuSettings'. */
#define CONFIG_N_SETTINGS_KEYS 12
#define CONFIG_N_KEYS 27

typedef struct Profile {
	char *name;
	ProfileMatch match;
	SmmuSettings overrides;     /* only the fields in set_mask are meaningful */
	uint64_t set_mask;          /* bit i = settings key i of the key table */
	SmmuSettings effective;     /* defaults with the overrides on top */
	char *origin;               /* "file:line" of its first section header */
	char *origins[CONFIG_N_SETTINGS_KEYS]; /* "file:line" of each key it sets */
	unsigned origin_seq[CONFIG_N_SETTINGS_KEYS]; /* ... and when (Config.n_set) */
} Profile;

typedef struct Config {
	ExternalChange external_change;
	uint64_t drift_check_usec;  /* while managing a storm only */
	uint64_t scan_interval_usec; /* VM rescan; 0 = only on events */
	bool use_machined;
	bool use_taskstats;
	bool use_proc_connector;
	char *admin_group;          /* may change state through the API; NULL: root only */
	char *reader_group;         /* may read state; NULL: anyone */
	char *metrics_file;         /* Prometheus text file; NULL: none */
	SmmuSettings defaults;
	Profile *profiles;          /* in order of first appearance */
	size_t n_profiles;
	char **files;               /* the files it came from, in parse order */
	char *origins[CONFIG_N_KEYS]; /* "file:line" that set each key; NULL: default */
	unsigned origin_seq[CONFIG_N_KEYS]; /* ... and when: the n_set of that assignment */
	unsigned n_set;             /* assignments parsed so far, in file and line order */
	char *dump;                 /* canonical text of the effective config */
	char digest[SHA256_HEX_SIZE]; /* sha256 of dump */
} Config;

typedef struct ConfigSource {
	const char *file;           /* NULL: SMMUD_CONFIG_FILE */
	bool file_required;         /* given on the command line: must exist */
	const char *dropin_dir;     /* NULL: SMMUD_CONFIG_DIR; "" = none */
} ConfigSource;

Config *config_new_defaults(void);
Config *config_free(Config *c);
static inline void config_freep(Config **c)
{
	config_free(*c);
}
#define _cleanup_config_free_ _cleanup_(config_freep)

/*
 * Loads the main file and drop-ins into a fresh Config.  On any error
 * returns -EINVAL (or -ENOMEM) and the messages ("file:line: key: reason")
 * in *ret_errors; *ret is then untouched.
 */
int config_load(const ConfigSource *src, Config **ret, char ***ret_errors);

/*
 * Parses one more file's text into c (as a drop-in on top of what is
 * there), appending messages to *errors.  name is used in messages only.
 * For the fuzzer and tests; config_load() is this plus config_finalize().
 */
int config_parse_stream(Config *c, FILE *f, const char *name, char ***errors);
/* Cross-key validation, profile overlays, dump and digest. */
int config_finalize(Config *c, char ***errors);

/* The canonical effective config (what the digest is of). */
int config_dump(const Config *c, char **ret);

/*
 * Every key the parser accepts, as "Section.Key" ("Profile.MatchSmmu" for
 * profile keys), in table order: for documentation checks (man pages).
 */
int config_list_keys(char ***ret);
