/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Encodings: base64, UTF-8 <-> UTF-16LE; GUIDs and FILETIMEs. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <offserv/util.h>

/* Seconds from 1601-01-01 to 1970-01-01. */
#define FILETIME_UNIX_EPOCH 11644473600ULL

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

offserv_status offserv_base64_decode(const char *text, uint8_t *out, size_t cap,
                                     size_t *out_len)
{
	const char *b, *e;
	size_t n, o = 0;

	if (out_len)
		*out_len = 0;
	if (!text)
		return OFFSERV_E_INVALIDARG;
	b = text;
	while (is_space(*b))
		b++;
	e = b + strlen(b);
	while (e > b && is_space(e[-1]))
		e--;
	n = (size_t)(e - b);
	if (n % 4 != 0)
		return OFFSERV_E_INVALID_DATA;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		size_t pad = 0;
		uint32_t w;

		for (int k = 0; k < 4; k++) {
			if (b[i + k] == '=') {
				/* Padding only in the last quantum, only at its end. */
				if (i + 4 != n || k < 2)
					return OFFSERV_E_INVALID_DATA;
				v[k] = 0;
				pad++;
			} else {
				if (pad > 0)
					return OFFSERV_E_INVALID_DATA;
				v[k] = b64_value((unsigned char)b[i + k]);
				if (v[k] < 0)
					return OFFSERV_E_INVALID_DATA;
			}
		}
		w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) |
		    (uint32_t)v[3];
		/* Non-canonical encodings (stray low bits) are refused. */
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return OFFSERV_E_INVALID_DATA;
		if (o + 3 - pad > cap)
			return OFFSERV_E_INVALID_DATA;
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
	}
	if (out_len)
		*out_len = o;
	return OFFSERV_OK;
}

char *offserv_base64_encode(const uint8_t *data, size_t len)
{
	size_t olen, o = 0;
	char *r = NULL;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	olen = (len + 2) / 3 * 4;
	r = malloc(olen + 1);
	if (!r)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t w = (uint32_t)data[i] << 16;
		size_t rem = len - i;

		if (rem > 1)
			w |= (uint32_t)data[i + 1] << 8;
		if (rem > 2)
			w |= data[i + 2];
		r[o++] = b64_alphabet[(w >> 18) & 63];
		r[o++] = b64_alphabet[(w >> 12) & 63];
		r[o++] = rem > 1 ? b64_alphabet[(w >> 6) & 63] : '=';
		r[o++] = rem > 2 ? b64_alphabet[w & 63] : '=';
	}
	r[o] = '\0';
	return r;
}

/* Decode one UTF-8 scalar value; 0 on an invalid or overlong sequence. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
	uint32_t c = s[0];
	size_t n, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		c &= 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

bool offserv_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char tmp[4] = {0, 0, 0, 0};
		size_t avail = len - i < 4 ? len - i : 4;
		uint32_t cp;
		size_t n;

		/* Copy so that a sequence cut by the end of the buffer is seen as invalid. */
		memcpy(tmp, p + i, avail);
		if (tmp[0] == 0 && avail > 0) {
			i++;
			continue;
		}
		n = utf8_decode(tmp, &cp);
		if (n == 0 || n > avail)
			return false;
		i += n;
	}
	return true;
}

offserv_status offserv_utf8_to_utf16le(const char *s, uint8_t **out, size_t *out_len)
{
	const unsigned char *p;
	size_t units = 0, o = 0;
	uint8_t *r;

	if (!s || !out)
		return OFFSERV_E_INVALIDARG;
	*out = NULL;
	if (out_len)
		*out_len = 0;
	for (p = (const unsigned char *)s; *p;) {
		uint32_t cp;
		size_t n = utf8_decode(p, &cp);

		if (n == 0)
			return OFFSERV_E_INVALID_DATA;
		units += cp >= 0x10000 ? 2 : 1;
		p += n;
	}
	r = malloc((units + 1) * 2);
	if (!r)
		return OFFSERV_E_OUTOFMEMORY;
	for (p = (const unsigned char *)s; *p;) {
		uint32_t cp;

		p += utf8_decode(p, &cp);
		if (cp >= 0x10000) {
			uint32_t v = cp - 0x10000;
			uint16_t hi = (uint16_t)(0xd800 | (v >> 10));
			uint16_t lo = (uint16_t)(0xdc00 | (v & 0x3ff));

			r[o++] = (uint8_t)hi;
			r[o++] = (uint8_t)(hi >> 8);
			r[o++] = (uint8_t)lo;
			r[o++] = (uint8_t)(lo >> 8);
		} else {
			r[o++] = (uint8_t)cp;
			r[o++] = (uint8_t)(cp >> 8);
		}
	}
	r[o++] = 0;
	r[o++] = 0;
	*out = r;
	if (out_len)
		*out_len = o;
	return OFFSERV_OK;
}

offserv_status offserv_utf16le_to_utf8(const uint8_t *s, size_t len, char **out)
{
	size_t units, bytes = 0, o = 0;
	char *r = NULL;

	if ((!s && len > 0) || !out)
		return OFFSERV_E_INVALIDARG;
	*out = NULL;
	if (len % 2 != 0)
		return OFFSERV_E_INVALID_DATA;
	units = len / 2;
	/* Two passes: validate and size, then write. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < units; i++) {
			uint32_t cp = (uint32_t)s[2 * i] | ((uint32_t)s[2 * i + 1] << 8);

			if (cp == 0)
				break;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return OFFSERV_E_INVALID_DATA;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				uint32_t lo;

				if (i + 1 >= units)
					return OFFSERV_E_INVALID_DATA;
				lo = (uint32_t)s[2 * i + 2] | ((uint32_t)s[2 * i + 3] << 8);
				if (lo < 0xdc00 || lo > 0xdfff)
					return OFFSERV_E_INVALID_DATA;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i++;
			}
			if (pass == 0) {
				bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
				continue;
			}
			if (cp < 0x80) {
				r[o++] = (char)cp;
			} else if (cp < 0x800) {
				r[o++] = (char)(0xc0 | (cp >> 6));
				r[o++] = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				r[o++] = (char)(0xe0 | (cp >> 12));
				r[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				r[o++] = (char)(0x80 | (cp & 0x3f));
			} else {
				r[o++] = (char)(0xf0 | (cp >> 18));
				r[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
				r[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				r[o++] = (char)(0x80 | (cp & 0x3f));
			}
		}
		if (pass == 0) {
			r = malloc(bytes + 1);
			if (!r)
				return OFFSERV_E_OUTOFMEMORY;
		}
	}
	r[o] = '\0';
	*out = r;
	return OFFSERV_OK;
}

offserv_status offserv_guid_generate(char out[37])
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return offserv_status_from_errno(errno);
		}
		got += (size_t)n;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, 37,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
	         b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
	         b[14], b[15]);
	return OFFSERV_OK;
}

uint64_t offserv_filetime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec + FILETIME_UNIX_EPOCH) * 10000000ULL +
	       (uint64_t)ts.tv_nsec / 100;
}
