/*
 * plugin.h -- loading plugins: shared objects named KIND-NAME.so
 * ("backend-unbound.so") exporting the descriptor "rg_plugin" of
 * plugins/plugin.h.
 *
 * A plugin is looked for in each directory of the environment variable
 * RG_PLUGIN_DIR (colon-separated; a build tree's plugins/ directory works
 * too, through its libtool layout NAME/.libs/NAME.so), then in the
 * installation's plugin directory, RG_PKGLIBDIR.  A plugin is refused when
 * its descriptor is missing, of another kind or name, or built for another
 * ABI version; every error names the file.
 */
#ifndef RG_SRC_PLUGIN_H
#define RG_SRC_PLUGIN_H

#include <stddef.h>

#include "../plugins/plugin.h"

/** A loaded plugin. */
struct rg_plugin_handle {
	const struct rg_plugin *plugin;	/**< its descriptor */
	char *path;			/**< the file it came from */
	void *dl;			/**< dlopen handle */
	struct rg_plugin_ctx *ctx;	/**< passed to load/unload */
};

/** The directory plugins are installed in. */
const char *rg_plugin_dir(void);

/**
 * Load the plugin of KIND named NAME and call its load hook.  Returns the
 * handle, or NULL with a message naming the file (or the directories
 * searched) in ERR.
 */
struct rg_plugin_handle *rg_plugin_open(enum rg_plugin_kind kind,
    const char *name, char *err, size_t len);

/** Call the unload hook and unload (NULL is allowed). */
void rg_plugin_close(struct rg_plugin_handle *h);

#endif
