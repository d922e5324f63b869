/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Safe XML reading for manifests (internal to liboffserv).
 *
 * Documents are parsed from memory with no network access, no DTD loading
 * and no entity substitution; a document with a DOCTYPE (internal or
 * external subset) or any entity declaration is refused before its
 * declarations are read.
 */
#ifndef OFFSERV_CBS_XML_H
#define OFFSERV_CBS_XML_H

#include <stddef.h>

#include <libxml/tree.h>

#include <offserv/status.h>

/** The component-manifest namespace. */
#define CBS_XML_NS_ASM_V3 "urn:schemas-microsoft-com:asm.v3"

/** Longest attribute value accepted, in bytes. */
#define CBS_XML_ATTR_MAX (32u * 1024u)

/**
 * Parse @p len bytes into a document (free with xmlFreeDoc()).  UTF-8 with
 * or without a byte-order mark and UTF-16 with one are accepted.
 * @retval OFFSERV_CBS_E_XML_PARSER_FAILURE empty, not well-formed, DTD or entity
 * @retval OFFSERV_E_INVALID_DATA over ::OFFSERV_MANIFEST_MAX_BYTES
 */
offserv_status cbs_xml_parse(const void *data, size_t len, xmlDocPtr *out, char *err,
                             size_t errlen);

/** Non-zero when @p n is an element named @p local (any namespace). */
int cbs_xml_is(const xmlNode *n, const char *local);

/**
 * Non-zero when @p n is an element named @p local in the asm.v3 namespace
 * or in no namespace.
 */
int cbs_xml_is_asm(const xmlNode *n, const char *local);

/** First element child of @p parent named @p local (any namespace), or NULL. */
xmlNode *cbs_xml_child(const xmlNode *parent, const char *local);

/**
 * Copy the value of attribute @p local (no namespace or any prefix) of
 * @p n into *@p out (malloc'd; NULL when absent).  A value over
 * ::CBS_XML_ATTR_MAX bytes is refused with OFFSERV_CBS_E_INVALID_PACKAGE.
 */
offserv_status cbs_xml_attr(const xmlNode *n, const char *local, char **out, char *err,
                            size_t errlen);

/** Write a formatted message into @p err (NULL-safe, truncating). */
void cbs_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
