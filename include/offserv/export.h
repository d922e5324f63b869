/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file export.h
 * @brief Symbol visibility for liboffserv.
 *
 * liboffserv is built with -fvisibility=hidden; only declarations marked
 * OFFSERV_API are exported.
 */
#ifndef OFFSERV_EXPORT_H
#define OFFSERV_EXPORT_H

#if defined(__GNUC__) && defined(OFFSERV_BUILDING_LIBRARY)
#define OFFSERV_API __attribute__((visibility("default")))
#else
#define OFFSERV_API
#endif

#if defined(__GNUC__)
#define OFFSERV_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define OFFSERV_PRINTF(fmt, args)
#endif

#endif /* OFFSERV_EXPORT_H */
