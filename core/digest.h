/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file digest.h
 * @brief SHA-256 implementation choice (internal to liboffserv and its tests).
 *
 * offserv_sha256_*() use the x86 SHA extensions where the processor has
 * them (checked once with CPUID) and portable C otherwise; both give the
 * same digests.
 */
#ifndef OFFSERV_CORE_DIGEST_H
#define OFFSERV_CORE_DIGEST_H

/** Non-zero when SHA-256 runs on the processor's SHA extensions. */
int offserv__sha256_accelerated(void);

/** Tests only: with @p on, SHA-256 uses the portable code even where the
 *  processor has the SHA extensions. */
void offserv__sha256_portable(int on);

#endif
