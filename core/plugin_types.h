/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Internal: freeing plugin ABI structures of an older minor. */
#ifndef OFFSERV_CORE_PLUGIN_TYPES_H
#define OFFSERV_CORE_PLUGIN_TYPES_H

#include <offserv/plugin.h>

/**
 * Free an update info allocated by a plugin built for ABI 1.0: only the
 * members up to `parent_identities` exist (see OFFSERV_PLUGIN_ABI_MINOR).
 */
void offserv__update_info_free_1_0(struct offserv_update_info *info);

#endif /* OFFSERV_CORE_PLUGIN_TYPES_H */
