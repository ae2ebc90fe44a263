/*
 * plugin.c -- finding, loading and checking plugins.
 *
 * The search is a short list of candidate files: for each directory of
 * RG_PLUGIN_DIR, DIR/KIND-NAME.so and, for a build tree, DIR/KIND-NAME/
 * .libs/KIND-NAME.so; then the installation's directory.  The first file
 * that exists is the plugin: a broken one is an error, not a reason to go
 * on looking, so that the file in use is always the one the error names.
 */
#include <sys/stat.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

#ifndef RG_PKGLIBDIR
#define RG_PKGLIBDIR "/usr/local/lib/resguard"
#endif

struct rg_plugin_ctx {
	const char *path;
};

static const char *const plugin_kind_str[] = {
	[RG_PLUGIN_FEED] = "feed",
	[RG_PLUGIN_BACKEND] = "backend",
	[RG_PLUGIN_REPORT] = "report",
};

const char *
rg_plugin_dir(void)
{
	return RG_PKGLIBDIR;
}

/* Names of plugins: what a file name can safely carry. */
static int
plugin_name_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || s[0] == '.')
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= 64 || !((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		    s[i] == '_'))
			return 0;
	return 1;
}

static int
file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The first candidate file that exists, in BUF; SEARCHED lists the places
 * looked at for the message when none does. */
static int
plugin_find(const char *base, char *buf, size_t len, char *searched,
    size_t slen)
{
	const char *env = getenv("RG_PLUGIN_DIR"), *p, *end;
	size_t n, used = 0;
	char dir[3840];

	searched[0] = '\0';
	for (p = env; p != NULL && *p != '\0'; p = *end ? end + 1 : end) {
		if ((end = strchr(p, ':')) == NULL)
			end = p + strlen(p);
		if ((n = (size_t)(end - p)) == 0 || n >= sizeof(dir))
			continue;
		memcpy(dir, p, n);
		dir[n] = '\0';
		snprintf(buf, len, "%s/%s.so", dir, base);
		if (file_exists(buf))
			return 0;
		snprintf(buf, len, "%s/%s/.libs/%s.so", dir, base, base);
		if (file_exists(buf))
			return 0;
		used += (size_t)snprintf(searched + used, used < slen ?
		    slen - used : 0, "%s, ", dir);
		if (used >= slen)
			used = slen - 1;
	}
	snprintf(buf, len, "%s/%s.so", RG_PKGLIBDIR, base);
	if (file_exists(buf))
		return 0;
	snprintf(searched + used, used < slen ? slen - used : 0, "%s",
	    RG_PKGLIBDIR);
	return -ENOENT;
}

struct rg_plugin_handle *
rg_plugin_open(enum rg_plugin_kind kind, const char *name, char *err,
    size_t len)
{
	struct rg_plugin_handle *h = NULL;
	const struct rg_plugin *pl;
	char base[96], path[4096 + 256], searched[1024];
	const char *e;
	int rc;

	if (!plugin_name_ok(name)) {
		snprintf(err, len, "\"%.64s\" is not a valid plugin name",
		    name);
		return NULL;
	}
	snprintf(base, sizeof(base), "%s-%s", plugin_kind_str[kind], name);
	if (plugin_find(base, path, sizeof(path), searched,
	    sizeof(searched)) < 0) {
		snprintf(err, len, "%s plugin \"%s\" not found: no %s.so in %s",
		    plugin_kind_str[kind], name, base, searched);
		return NULL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->path = strdup(path)) == NULL ||
	    (h->ctx = calloc(1, sizeof(*h->ctx))) == NULL) {
		snprintf(err, len, "%s: out of memory", path);
		goto fail;
	}
	h->ctx->path = h->path;
	/* RTLD_LOCAL: two plugins may use the same static names. */
	if ((h->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		e = dlerror();
		snprintf(err, len, "%s: cannot load: %s", path,
		    e != NULL ? e : "unknown error");
		goto fail;
	}
	if ((pl = dlsym(h->dl, "rg_plugin")) == NULL) {
		snprintf(err, len, "%s: no \"rg_plugin\" descriptor: not a "
		    "resguard plugin", path);
		goto fail;
	}
	if (pl->abi != RG_PLUGIN_ABI) {
		snprintf(err, len, "%s: built for plugin ABI %u, this resguard "
		    "has ABI %u: rebuild the plugin", path, pl->abi,
		    RG_PLUGIN_ABI);
		goto fail;
	}
	if (pl->kind != kind || pl->name == NULL ||
	    strcmp(pl->name, name) != 0) {
		snprintf(err, len, "%s: is the %s plugin \"%s\", not the %s "
		    "plugin \"%s\"", path,
		    (unsigned)pl->kind <= RG_PLUGIN_REPORT ?
		    plugin_kind_str[pl->kind] : "unknown",
		    pl->name != NULL ? pl->name : "", plugin_kind_str[kind],
		    name);
		goto fail;
	}
	if (kind == RG_PLUGIN_BACKEND && (pl->backend == NULL ||
	    pl->backend->open == NULL || pl->backend->close == NULL ||
	    pl->backend->apply == NULL)) {
		snprintf(err, len, "%s: a backend without open, close or apply "
		    "hooks", path);
		goto fail;
	}
	if (pl->load != NULL && (rc = pl->load(h->ctx)) < 0) {
		snprintf(err, len, "%s: its load hook failed: %s", path,
		    strerror(-rc));
		goto fail;
	}
	h->plugin = pl;
	return h;
fail:
	if (h != NULL) {
		if (h->dl != NULL)
			dlclose(h->dl);
		free(h->ctx);
		free(h->path);
		free(h);
	}
	return NULL;
}

void
rg_plugin_close(struct rg_plugin_handle *h)
{
	if (h == NULL)
		return;
	if (h->plugin->unload != NULL)
		h->plugin->unload(h->ctx);
	dlclose(h->dl);
	free(h->ctx);
	free(h->path);
	free(h);
}
