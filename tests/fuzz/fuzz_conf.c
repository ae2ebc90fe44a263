/*
 * fuzz_conf.c -- libFuzzer target: a configuration file, through the
 * checker rg_conf_load() as "resguardd -t" and a reload run it.
 *
 * The input is written to resguard.conf in a temporary directory made
 * once, where links to the files of tests/unit/data that the seed
 * configurations name (a CA bundle, root hints, a trust anchor, included
 * files) make their references resolve.  An input with an @include naming
 * a path with a slash in it is skipped: it could make libconfig read
 * /dev/zero or the terminal, which a real configuration does not do.
 * Checked: a load succeeds exactly when no error was reported, a failed
 * one returns minus the number of error lines, and each of them reads
 * "FILE[:LINE]: error: message" on a single line.
 *
 * libconfig 1.5 leaks in its scanner on some syntax errors; run with
 * LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp ("leak:libconfig").
 */
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

/* An invariant broken: a finding, reported like a crash. */
#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

#ifndef RG_FUZZ_DATA
#define RG_FUZZ_DATA	"tests/unit/data"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_links[] = {
	"ca.pem", "root.hints", "root.key", "include-pools.inc",
	"include-bad.inc", NULL
};

static char fuzz_dir[] = "/tmp/rg-fuzz-conf.XXXXXX";
static char fuzz_path[PATH_MAX];

static void
fuzz_cleanup(void)
{
	char p[PATH_MAX];
	size_t i;

	for (i = 0; fuzz_links[i] != NULL; i++) {
		snprintf(p, sizeof(p), "%s/%s", fuzz_dir, fuzz_links[i]);
		(void)unlink(p);
	}
	(void)unlink(fuzz_path);
	(void)rmdir(fuzz_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char data[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	const char *env;
	size_t i;

	env = getenv("RG_FUZZ_DATA");
	if (realpath(env != NULL ? env : RG_FUZZ_DATA, data) == NULL) {
		perror("fuzz_conf: tests/unit/data (set RG_FUZZ_DATA)");
		exit(1);
	}
	if (mkdtemp(fuzz_dir) == NULL) {
		perror("fuzz_conf: mkdtemp");
		exit(1);
	}
	atexit(fuzz_cleanup);
	for (i = 0; fuzz_links[i] != NULL; i++) {
		snprintf(from, sizeof(from), "%s/%s", data, fuzz_links[i]);
		snprintf(to, sizeof(to), "%s/%s", fuzz_dir, fuzz_links[i]);
		if (symlink(from, to) < 0) {
			perror("fuzz_conf: symlink");
			exit(1);
		}
	}
	snprintf(fuzz_path, sizeof(fuzz_path), "%s/resguard.conf", fuzz_dir);
	return 0;
}

/* An @include naming a path outside the directory. */
static int
includes_path(const uint8_t *data, size_t size)
{
	return memmem(data, size, "@include", 8) != NULL &&
	    memchr(data, '/', size) != NULL;
}

static void
error_cb(void *arg, const char *line)
{
	int *n = arg;

	CHECK(strstr(line, ": error: ") != NULL);
	CHECK(strchr(line, '\n') == NULL);
	(*n)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_conf *conf = NULL;
	int fd, rc, errors = 0;
	size_t off = 0;
	ssize_t n;

	if (includes_path(data, size))
		return 0;
	if ((fd = open(fuzz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0)
		abort();
	while (off < size) {
		if ((n = write(fd, data + off, size - off)) <= 0)
			abort();
		off += (size_t)n;
	}
	close(fd);

	rc = rg_conf_load(fuzz_path, &conf, error_cb, &errors);
	if (rc == 0) {
		CHECK(conf != NULL && errors == 0);
		CHECK(rg_conf_pool_find(conf, "") == NULL);
		rg_conf_free(conf);
	} else {
		CHECK(rc < 0 && conf == NULL);
		CHECK(errors == -rc);
	}
	return 0;
}
