/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A classic BPF interpreter for the tests and fuzz targets of the exit
 * filters (daemon/observe/exitfilter.c): runs a socket filter program over
 * a packet as the kernel's would (loads big-endian, an out-of-bounds load
 * returns 0, division by zero returns 0) and returns what the program
 * returns.  It knows every instruction classic BPF has, except the
 * ancillary loads (SKF_AD_*), which return 0 here: the exit filters use
 * none.  Unknown opcodes abort(): a program the kernel would refuse.
 */

#include <linux/filter.h>
#include <stdint.h>
#include <stdlib.h>

static inline int cbpf_load(const uint8_t *pkt, size_t len, uint32_t off, unsigned size,
			    uint32_t *ret)
{
	uint32_t v = 0;

	if (off >= 0x80000000U || (size_t)off + size > len)
		return -1;
	for (unsigned i = 0; i < size; i++)
		v = v << 8 | pkt[off + i];
	*ret = v;
	return 0;
}

static inline uint32_t cbpf_run(const struct sock_filter *prog, size_t n, const void *packet,
				size_t len)
{
	const uint8_t *pkt = packet;
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {};

	for (size_t pc = 0; pc < n; pc++) {
		const struct sock_filter *f = &prog[pc];
		uint32_t k = f->k, src = BPF_SRC(f->code) == BPF_X ? x : k, v;
		unsigned size = BPF_SIZE(f->code) == BPF_W ? 4 : BPF_SIZE(f->code) == BPF_H ? 2 : 1;

		switch (BPF_CLASS(f->code)) {
		case BPF_LD:
			switch (BPF_MODE(f->code)) {
			case BPF_IMM: a = k; break;
			case BPF_LEN: a = (uint32_t)len; break;
			case BPF_MEM: a = mem[k % BPF_MEMWORDS]; break;
			case BPF_ABS:
				if (cbpf_load(pkt, len, k, size, &v) < 0)
					return 0;
				a = v;
				break;
			case BPF_IND:
				if (cbpf_load(pkt, len, x + k, size, &v) < 0)
					return 0;
				a = v;
				break;
			default: abort();
			}
			break;
		case BPF_LDX:
			switch (BPF_MODE(f->code)) {
			case BPF_IMM: x = k; break;
			case BPF_LEN: x = (uint32_t)len; break;
			case BPF_MEM: x = mem[k % BPF_MEMWORDS]; break;
			case BPF_MSH:
				if (cbpf_load(pkt, len, k, 1, &v) < 0)
					return 0;
				x = (v & 0xf) << 2;
				break;
			default: abort();
			}
			break;
		case BPF_ST: mem[k % BPF_MEMWORDS] = a; break;
		case BPF_STX: mem[k % BPF_MEMWORDS] = x; break;
		case BPF_ALU:
			switch (BPF_OP(f->code)) {
			case BPF_ADD: a += src; break;
			case BPF_SUB: a -= src; break;
			case BPF_MUL: a *= src; break;
			case BPF_DIV: if (!src) return 0; a /= src; break;
			case BPF_MOD: if (!src) return 0; a %= src; break;
			case BPF_OR: a |= src; break;
			case BPF_AND: a &= src; break;
			case BPF_XOR: a ^= src; break;
			case BPF_LSH: a = src >= 32 ? 0 : a << src; break;
			case BPF_RSH: a = src >= 32 ? 0 : a >> src; break;
			case BPF_NEG: a = -a; break;
			default: abort();
			}
			break;
		case BPF_JMP:
			if (BPF_OP(f->code) == BPF_JA) {
				pc += k;
				break;
			}
			switch (BPF_OP(f->code)) {
			case BPF_JEQ: pc += a == src ? f->jt : f->jf; break;
			case BPF_JGT: pc += a > src ? f->jt : f->jf; break;
			case BPF_JGE: pc += a >= src ? f->jt : f->jf; break;
			case BPF_JSET: pc += (a & src) ? f->jt : f->jf; break;
			default: abort();
			}
			break;
		case BPF_RET:
			return BPF_RVAL(f->code) == BPF_A ? a : k;
		case BPF_MISC:
			if (BPF_MISCOP(f->code) == BPF_TAX)
				x = a;
			else
				a = x;
			break;
		default:
			abort();
		}
	}
	/* Falling off the end: the kernel's checker refuses such a program. */
	abort();
}
