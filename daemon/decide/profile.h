/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Which settings apply to one SMMU: the first [Profile] (in order of first
 * appearance across the files) whose every Match key holds for this host
 * and this SMMU, else the plain sections.  Pure: facts come in as
 * arguments, so one config file can be checked against any host.
 */

#include "config.h"
#include "topology.h"

typedef struct HostFacts {
	const char *hostname;
	const char *machine_id;  /* 32 hex digits; NULL: unknown (canaries never match) */
	KernelCapability kernel;
	unsigned n_smmus;
} HostFacts;

typedef struct SmmuFacts {
	const char *name;
	bool range_invalidation;
} SmmuFacts;

/* The facts of a host and an SMMU as the topology has them. */
void profile_host_facts(const Topology *t, HostFacts *ret);
void profile_smmu_facts(const Smmu *s, SmmuFacts *ret);

/*
 * The settings for this SMMU; *ret_profile is the matching profile's name
 * or NULL for the defaults.
 */
const SmmuSettings *config_settings_for(const Config *c, const HostFacts *host,
					const SmmuFacts *smmu, const char **ret_profile);

bool profile_matches(const Profile *p, const HostFacts *host, const SmmuFacts *smmu);

/*
 * A host's stable position 0..9999 for a profile's canary: sha256 of
 * "machine-id:profile", so each profile picks its own, stable slice.
 */
unsigned canary_slot(const char *machine_id, const char *profile);
