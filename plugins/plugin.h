/*
 * plugin.h -- the plugin ABI.
 *
 * A plugin is a shared object exporting one const descriptor named
 * "rg_plugin": the ABI version it was built for, its name and kind, and its
 * hooks.  NULL hooks mean "not used".  The agent refuses a plugin whose
 * ABI version differs from RG_PLUGIN_ABI.  Three kinds: feed formats,
 * backends (apply failover and the blocklist to a resolver), reporters.
 */
#ifndef RG_PLUGIN_H
#define RG_PLUGIN_H

#include <stddef.h>

#define RG_PLUGIN_ABI 1

enum rg_plugin_kind {
	RG_PLUGIN_FEED,
	RG_PLUGIN_BACKEND,
	RG_PLUGIN_REPORT,
};

struct rg_plugin_ctx;		/* opaque: the agent's side */

struct rg_plugin {
	unsigned abi;			/**< RG_PLUGIN_ABI */
	const char *name;		/**< "unbound", "stix2", "http", ... */
	enum rg_plugin_kind kind;
	/** Called once after dlopen; returns 0 or a negative errno code. */
	int (*load)(struct rg_plugin_ctx *ctx);
	/** Called once before dlclose. */
	void (*unload)(struct rg_plugin_ctx *ctx);
	/**
	 * Check the plugin's own configuration block (a libconfig setting,
	 * passed as void * to keep libconfig out of this header); report
	 * errors through the context.  Returns the count of errors.
	 */
	int (*check)(struct rg_plugin_ctx *ctx, const void *setting);
};

#endif
