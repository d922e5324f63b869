/* SPDX-License-Identifier: GPL-3.0-or-later */
/* SHA-256 and SHA-1 (FIPS 180-4), and hex. */
#include <config.h>

#include <stdint.h>
#include <string.h>

#include <offserv/util.h>

#include "digest.h"

static inline uint32_t rotr32(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static inline uint32_t rotl32(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static inline uint32_t load_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/*
 * ---- The Merkle-Damgard framing shared by SHA-256 and SHA-1 ----
 *
 * Both hash 64-byte blocks, pad with 0x80, zeros and the message length in
 * bits as a big-endian 64-bit number; only the block function and the size
 * of the state differ.  The contexts keep their own fields (the public
 * structures are part of the ABI), so the helpers take them one by one.
 */

typedef void (*block_fn)(uint32_t *state, const uint8_t *blk);

static void md_update(uint32_t *state, uint64_t *bytes, uint8_t buf[64], size_t *buf_len,
                      block_fn block, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (len == 0)
		return;
	*bytes += len;
	if (*buf_len > 0) {
		size_t take = 64 - *buf_len;

		if (take > len)
			take = len;
		memcpy(buf + *buf_len, p, take);
		*buf_len += take;
		p += take;
		len -= take;
		if (*buf_len < 64)
			return;
		block(state, buf);
		*buf_len = 0;
	}
	while (len >= 64) {
		block(state, p);
		p += 64;
		len -= 64;
	}
	if (len > 0) {
		memcpy(buf, p, len);
		*buf_len = len;
	}
}

/* Pad and hash the last block(s); @p nwords state words go out big-endian. */
static void md_final(uint32_t *state, uint64_t bytes, uint8_t buf[64], size_t buf_len,
                     block_fn block, uint8_t *digest, int nwords)
{
	buf[buf_len++] = 0x80;
	if (buf_len > 56) {
		memset(buf + buf_len, 0, 64 - buf_len);
		block(state, buf);
		buf_len = 0;
	}
	memset(buf + buf_len, 0, 56 - buf_len);
	store_be64(buf + 56, bytes * 8);
	block(state, buf);
	for (int i = 0; i < nwords; i++)
		store_be32(digest + 4 * i, state[i]);
}

/* ---- SHA-256 ---- */

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static void sha256_block(uint32_t *st, const uint8_t *blk)
{
	uint32_t w[64], a, b, c, d, e, f, g, h;

	for (int i = 0; i < 16; i++)
		w[i] = load_be32(blk + 4 * i);
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = rotr32(w[i - 15], 7) ^ rotr32(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = rotr32(w[i - 2], 17) ^ rotr32(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = st[0];
	b = st[1];
	c = st[2];
	d = st[3];
	e = st[4];
	f = st[5];
	g = st[6];
	h = st[7];
	for (int i = 0; i < 64; i++) {
		uint32_t S1 = rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = h + S1 + ch + sha256_k[i] + w[i];
		uint32_t S0 = rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22);
		uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = S0 + maj;

		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	st[0] += a;
	st[1] += b;
	st[2] += c;
	st[3] += d;
	st[4] += e;
	st[5] += f;
	st[6] += g;
	st[7] += h;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI 1

/*
 * The same block with the x86 SHA extensions.  The state lives in two
 * registers as the instructions want it, {A,B,E,F} and {C,D,G,H}; each
 * _mm_sha256rnds2_epu32 does two rounds, and the message schedule is
 * extended four words at a time with sha256msg1/msg2.
 */
__attribute__((target("sha,sse4.1,ssse3"))) static void sha256_block_ni(uint32_t *st,
                                                                          const uint8_t *blk)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i abef, cdgh, abef_in, cdgh_in, t, msg, w[4];

	t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&st[0]), 0xb1);    /* B A D C */
	cdgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&st[4]), 0x1b); /* H G F E */
	abef = _mm_alignr_epi8(t, cdgh, 8);
	cdgh = _mm_blend_epi16(cdgh, t, 0xf0);
	abef_in = abef;
	cdgh_in = cdgh;
	for (int g = 0; g < 16; g++) {
		if (g < 4)
			w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blk + 16 * g)), bswap);
		msg = _mm_add_epi32(w[g & 3], _mm_loadu_si128((const __m128i *)&sha256_k[4 * g]));
		cdgh = _mm_sha256rnds2_epu32(cdgh, abef, msg);
		if (g >= 3 && g <= 14) {
			t = _mm_alignr_epi8(w[g & 3], w[(g + 3) & 3], 4);
			w[(g + 1) & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(w[(g + 1) & 3], t), w[g & 3]);
		}
		abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(msg, 0x0e));
		if (g >= 1 && g <= 12)
			w[(g + 3) & 3] = _mm_sha256msg1_epu32(w[(g + 3) & 3], w[g & 3]);
	}
	abef = _mm_add_epi32(abef, abef_in);
	cdgh = _mm_add_epi32(cdgh, cdgh_in);
	t = _mm_shuffle_epi32(abef, 0x1b);    /* F E B A */
	cdgh = _mm_shuffle_epi32(cdgh, 0xb1); /* D C H G */
	_mm_storeu_si128((__m128i *)&st[0], _mm_blend_epi16(t, cdgh, 0xf0));
	_mm_storeu_si128((__m128i *)&st[4], _mm_alignr_epi8(cdgh, t, 8));
}

static int cpu_has_sha_ni(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
		return 0;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return (b & (1u << 29)) != 0; /* CPUID.(EAX=7,ECX=0):EBX.SHA */
}
#endif

static int sha256_portable_only;

void offserv__sha256_portable(int on)
{
	sha256_portable_only = on;
}

int offserv__sha256_accelerated(void)
{
#ifdef HAVE_SHA_NI
	static int has = -1;

	if (has < 0)
		has = cpu_has_sha_ni();
	return has && !sha256_portable_only;
#else
	return 0;
#endif
}

static block_fn sha256_impl(void)
{
#ifdef HAVE_SHA_NI
	if (offserv__sha256_accelerated())
		return sha256_block_ni;
#endif
	return sha256_block;
}

void offserv_sha256_init(struct offserv_sha256 *ctx)
{
	static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

	memcpy(ctx->state, iv, sizeof(iv));
	ctx->bytes = 0;
	ctx->buf_len = 0;
}

void offserv_sha256_update(struct offserv_sha256 *ctx, const void *data, size_t len)
{
	md_update(ctx->state, &ctx->bytes, ctx->buf, &ctx->buf_len, sha256_impl(), data, len);
}

void offserv_sha256_final(struct offserv_sha256 *ctx, uint8_t digest[32])
{
	md_final(ctx->state, ctx->bytes, ctx->buf, ctx->buf_len, sha256_impl(), digest, 8);
	memset(ctx, 0, sizeof(*ctx));
}

void offserv_sha256(const void *data, size_t len, uint8_t digest[32])
{
	struct offserv_sha256 ctx;

	offserv_sha256_init(&ctx);
	offserv_sha256_update(&ctx, data, len);
	offserv_sha256_final(&ctx, digest);
}

/* ---- SHA-1 ---- */

static void sha1_block(uint32_t *st, const uint8_t *blk)
{
	uint32_t w[80], a, b, c, d, e;

	for (int i = 0; i < 16; i++)
		w[i] = load_be32(blk + 4 * i);
	for (int i = 16; i < 80; i++)
		w[i] = rotl32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = st[0];
	b = st[1];
	c = st[2];
	d = st[3];
	e = st[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k, t;

		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rotl32(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rotl32(b, 30);
		b = a;
		a = t;
	}
	st[0] += a;
	st[1] += b;
	st[2] += c;
	st[3] += d;
	st[4] += e;
}

void offserv_sha1_init(struct offserv_sha1 *ctx)
{
	ctx->state[0] = 0x67452301;
	ctx->state[1] = 0xefcdab89;
	ctx->state[2] = 0x98badcfe;
	ctx->state[3] = 0x10325476;
	ctx->state[4] = 0xc3d2e1f0;
	ctx->bytes = 0;
	ctx->buf_len = 0;
}

void offserv_sha1_update(struct offserv_sha1 *ctx, const void *data, size_t len)
{
	md_update(ctx->state, &ctx->bytes, ctx->buf, &ctx->buf_len, sha1_block, data, len);
}

void offserv_sha1_final(struct offserv_sha1 *ctx, uint8_t digest[20])
{
	md_final(ctx->state, ctx->bytes, ctx->buf, ctx->buf_len, sha1_block, digest, 5);
	memset(ctx, 0, sizeof(*ctx));
}

void offserv_hex(const uint8_t *bytes, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0x0f];
	}
	out[2 * len] = '\0';
}
