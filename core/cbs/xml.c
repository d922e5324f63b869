/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Safe XML reading for manifests: no network, no DTD, no entities. */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include <offserv/cbs.h>

#include "cbs/xml.h"

void cbs_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* What the SAX hooks saw; reached through the parser context's _private. */
struct guard {
	int saw_dtd;
	int saw_entity;
};

static void guard_internal_subset(void *ctx, const xmlChar *name, const xmlChar *external_id,
                                  const xmlChar *system_id)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct guard *g = ctxt->_private;

	g->saw_dtd = 1;
	xmlStopParser(ctxt);
}

static void guard_entity_decl(void *ctx, const xmlChar *name, int type,
                              const xmlChar *public_id, const xmlChar *system_id,
                              xmlChar *content)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct guard *g = ctxt->_private;

	g->saw_entity = 1;
	xmlStopParser(ctxt);
}

static void trim_newline(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

offserv_status cbs_xml_parse(const void *data, size_t len, xmlDocPtr *out, char *err,
                             size_t errlen)
{
	xmlParserCtxtPtr ctxt;
	struct guard g = {0, 0};
	xmlDocPtr doc;
	/* No XML_PARSE_NOENT, no XML_PARSE_DTDLOAD, no XML_PARSE_HUGE. */
	const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;

	*out = NULL;
	if (!data || len == 0) {
		cbs_set_err(err, errlen, "empty document");
		return OFFSERV_CBS_E_XML_PARSER_FAILURE;
	}
	if (len > OFFSERV_MANIFEST_MAX_BYTES || len > (size_t)INT32_MAX) {
		cbs_set_err(err, errlen, "document of %zu bytes exceeds the %u-byte limit", len,
		            OFFSERV_MANIFEST_MAX_BYTES);
		return OFFSERV_E_INVALID_DATA;
	}
	xmlInitParser();
	ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		cbs_set_err(err, errlen, "out of memory creating the XML parser");
		return OFFSERV_E_OUTOFMEMORY;
	}
	ctxt->_private = &g;
	ctxt->sax->internalSubset = guard_internal_subset;
	ctxt->sax->entityDecl = guard_entity_decl;
	ctxt->sax->externalSubset = NULL;
	doc = xmlCtxtReadMemory(ctxt, data, (int)len, NULL, NULL, options);
	if (g.saw_dtd || g.saw_entity || (doc && (doc->intSubset || doc->extSubset))) {
		cbs_set_err(err, errlen,
		            "document declares a DTD (<!DOCTYPE>)%s; DTDs and entity declarations "
		            "are refused",
		            g.saw_entity ? " with entities" : "");
		xmlFreeDoc(doc);
		xmlFreeParserCtxt(ctxt);
		return OFFSERV_CBS_E_XML_PARSER_FAILURE;
	}
	if (!doc || !ctxt->wellFormed) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);

		if (e && e->message) {
			char msg[256];

			snprintf(msg, sizeof(msg), "%s", e->message);
			trim_newline(msg);
			cbs_set_err(err, errlen, "not well-formed XML at line %d: %s", e->line, msg);
		} else {
			cbs_set_err(err, errlen, "not well-formed XML");
		}
		xmlFreeDoc(doc);
		xmlFreeParserCtxt(ctxt);
		return OFFSERV_CBS_E_XML_PARSER_FAILURE;
	}
	xmlFreeParserCtxt(ctxt);
	*out = doc;
	return OFFSERV_OK;
}

int cbs_xml_is(const xmlNode *n, const char *local)
{
	return n && n->type == XML_ELEMENT_NODE && n->name &&
	       strcmp((const char *)n->name, local) == 0;
}

int cbs_xml_is_asm(const xmlNode *n, const char *local)
{
	if (!cbs_xml_is(n, local))
		return 0;
	return !n->ns || !n->ns->href ||
	       strcmp((const char *)n->ns->href, CBS_XML_NS_ASM_V3) == 0;
}

xmlNode *cbs_xml_child(const xmlNode *parent, const char *local)
{
	if (!parent)
		return NULL;
	for (xmlNode *c = parent->children; c; c = c->next)
		if (cbs_xml_is(c, local))
			return c;
	return NULL;
}

offserv_status cbs_xml_attr(const xmlNode *n, const char *local, char **out, char *err,
                            size_t errlen)
{
	*out = NULL;
	if (!n || n->type != XML_ELEMENT_NODE)
		return OFFSERV_OK;
	for (xmlAttr *a = n->properties; a; a = a->next) {
		xmlChar *v;
		size_t vlen;

		if (!a->name || strcmp((const char *)a->name, local) != 0)
			continue;
		v = xmlNodeListGetString(n->doc, a->children, 1);
		if (!v) {
			*out = strdup("");
			return *out ? OFFSERV_OK : OFFSERV_E_OUTOFMEMORY;
		}
		vlen = strlen((const char *)v);
		if (vlen > CBS_XML_ATTR_MAX) {
			cbs_set_err(err, errlen,
			            "attribute %s of <%s> (line %ld) is %zu bytes long, over the "
			            "%u-byte limit",
			            local, (const char *)n->name, xmlGetLineNo(n), vlen,
			            CBS_XML_ATTR_MAX);
			xmlFree(v);
			return OFFSERV_CBS_E_INVALID_PACKAGE;
		}
		*out = strdup((const char *)v);
		xmlFree(v);
		return *out ? OFFSERV_OK : OFFSERV_E_OUTOFMEMORY;
	}
	return OFFSERV_OK;
}
