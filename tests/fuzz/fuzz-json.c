// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * smmuctl --json writes strings that come from outside (a VMM's comm, a
 * cgroup name, machine names): whatever the bytes, the output is one
 * valid JSON string (RFC 8259) in valid UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), and valid UTF-8 input
 * comes back unchanged when the string is decoded.  The checker below is
 * written independently of json.c.
 */
#include "fuzz.h"
#include "json.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

static void put_utf8(char **o, uint32_t cp)
{
	unsigned char *p = (unsigned char *)*o;

	if (cp < 0x80)
		*p++ = (unsigned char)cp;
	else if (cp < 0x800) {
		*p++ = (unsigned char)(0xC0 | cp >> 6);
		*p++ = (unsigned char)(0x80 | (cp & 0x3F));
	} else {
		*p++ = (unsigned char)(0xE0 | cp >> 12);
		*p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		*p++ = (unsigned char)(0x80 | (cp & 0x3F));
	}
	*o = (char *)p;
}

/* Checks out is one JSON string and decodes it into dec (big enough). */
static void check_and_decode(const char *out, size_t n, char *dec)
{
	const unsigned char *p = (const unsigned char *)out, *end = p + n;
	char *o = dec;

	FUZZ_CHECK(n >= 2 && p[0] == '"' && end[-1] == '"');
	p++;
	end--;
	while (p < end) {
		size_t l;

		FUZZ_CHECK(*p >= 0x20 && *p != '"');
		if (*p == '\\') {
			FUZZ_CHECK(p + 1 < end);
			switch (p[1]) {
			case '"': *o++ = '"'; p += 2; continue;
			case '\\': *o++ = '\\'; p += 2; continue;
			case '/': *o++ = '/'; p += 2; continue;
			case 'b': *o++ = '\b'; p += 2; continue;
			case 'f': *o++ = '\f'; p += 2; continue;
			case 'n': *o++ = '\n'; p += 2; continue;
			case 'r': *o++ = '\r'; p += 2; continue;
			case 't': *o++ = '\t'; p += 2; continue;
			case 'u': {
				unsigned v = 0;

				FUZZ_CHECK(p + 6 <= end);
				for (int i = 2; i < 6; i++) {
					FUZZ_CHECK(strchr("0123456789abcdefABCDEF", p[i]) && p[i]);
					v = v * 16 + (unsigned)(p[i] <= '9' ? p[i] - '0' : (p[i] | 0x20) - 'a' + 10);
				}
				/* json.c never needs surrogate pairs: it escapes only < U+0080 and U+FFFD. */
				FUZZ_CHECK(v < 0xD800 || v > 0xDFFF);
				FUZZ_CHECK(v != 0);
				put_utf8(&o, v);
				p += 6;
				continue;
			}
			default:
				FUZZ_CHECK(!"bad escape");
			}
		}
		l = utf8_valid(p, (size_t)(end - p));
		FUZZ_CHECK(l > 0);
		memcpy(o, p, l);
		o += l;
		p += l;
	}
	*o = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *in = fuzz_strndup(data, size);
	_cleanup_free_ char *out = NULL, *dec = NULL;
	size_t n = 0, len = strlen(in);
	bool valid = true;
	FILE *f;

	f = open_memstream(&out, &n);
	if (!f)
		abort();
	json_write_escaped(f, in);
	if (fclose(f) != 0)
		abort();

	/* Each input byte decodes to at most 3 bytes (U+FFFD). */
	dec = malloc(3 * len + 1);
	if (!dec)
		abort();
	check_and_decode(out, n, dec);

	for (size_t i = 0; i < len;) {
		size_t l = utf8_valid((const unsigned char *)in + i, len - i);

		if (!l) {
			valid = false;
			break;
		}
		i += l;
	}
	if (valid)
		FUZZ_CHECK(streq(dec, in));
	return 0;
}
