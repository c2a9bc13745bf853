/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * SHA-256 (FIPS 180-4), for the config digest fleet tooling compares and the
 * canary selection by machine id.  libsystemd exports no hash, and a digest
 * that must match `sha256sum` output elsewhere has to be the real thing.
 */

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_HEX_SIZE (2 * SHA256_DIGEST_SIZE + 1)

typedef struct Sha256 {
	uint32_t state[8];
	uint64_t length;
	uint8_t block[64];
	size_t fill;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t size);
void sha256_final(Sha256 *s, uint8_t digest[SHA256_DIGEST_SIZE]);

/* One-shot, as lowercase hex into hex[SHA256_HEX_SIZE]. */
void sha256_hex(const void *data, size_t size, char hex[SHA256_HEX_SIZE]);
