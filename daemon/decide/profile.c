// SPDX-License-Identifier: GPL-2.0-or-later
#include "profile.h"

unsigned canary_slot(const char *machine_id, const char *profile)
{
	uint8_t d[SHA256_DIGEST_SIZE];
	uint64_t v = 0;
	Sha256 s;

	sha256_init(&s);
	sha256_update(&s, machine_id, strlen(machine_id));
	sha256_update(&s, ":", 1);
	sha256_update(&s, profile, strlen(profile));
	sha256_final(&s, d);
	for (int i = 0; i < 8; i++)
		v = v << 8 | d[i];
	return (unsigned)(v % 10000);
}

bool profile_matches(const Profile *p, const HostFacts *host, const SmmuFacts *smmu)
{
	const ProfileMatch *m = &p->match;

	if (m->hostname_glob && !(host->hostname && glob_match(m->hostname_glob, host->hostname)))
		return false;
	if (m->smmu_glob && !glob_match(m->smmu_glob, smmu->name))
		return false;
	if (m->range_invalidation >= 0 && m->range_invalidation != smmu->range_invalidation)
		return false;
	if (m->kernel >= 0 && m->kernel != (int)host->kernel)
		return false;
	if (host->n_smmus < m->smmu_count_min || host->n_smmus > m->smmu_count_max)
		return false;
	if (m->canary_percent < 100) {
		if (!host->machine_id || canary_slot(host->machine_id, p->name) >=
						 m->canary_percent * 100)
			return false;
	}
	return true;
}

const SmmuSettings *config_settings_for(const Config *c, const HostFacts *host,
					const SmmuFacts *smmu, const char **ret_profile)
{
	for (size_t i = 0; i < c->n_profiles; i++)
		if (profile_matches(&c->profiles[i], host, smmu)) {
			if (ret_profile)
				*ret_profile = c->profiles[i].name;
			return &c->profiles[i].effective;
		}
	if (ret_profile)
		*ret_profile = NULL;
	return &c->defaults;
}

void profile_host_facts(const Topology *t, HostFacts *ret)
{
	*ret = (HostFacts){
		.hostname = t->hostname,
		.machine_id = t->machine_id,
		.kernel = t->kernel,
		.n_smmus = (unsigned)t->n_smmus,
	};
}

void profile_smmu_facts(const Smmu *s, SmmuFacts *ret)
{
	*ret = (SmmuFacts){ .name = s->name, .range_invalidation = s->range_invalidation };
}
