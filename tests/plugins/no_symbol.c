/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A shared object without the descriptor: the loader must refuse it. */
__attribute__((visibility("default"))) int offserv_not_a_plugin(void);
__attribute__((visibility("default"))) int offserv_not_a_plugin(void)
{
	return 42;
}
