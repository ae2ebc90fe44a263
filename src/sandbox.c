/*
 * sandbox.c -- the seccomp filter of resguardd (server.seccomp).
 *
 * Installed when the start is over (listeners bound, privileges dropped,
 * plugins loaded, journal open, workers and HTTP threads running), on all
 * threads at once, and never lifted.  It allows what the agent does from
 * then on: glibc's threads, memory, time and signals; libuv's epoll loop
 * and thread pool; sockets for probes, forwarding, zone transfers,
 * libcurl, libunbound, libmicrohttpd and the control socket; files read,
 * written, synced and renamed in the state directory and by the backends;
 * plugins loaded on reload.  Any other system call kills the whole
 * process (SIGSYS): a gap in the list is loud, not a half-working agent.
 * Nothing runs a program (backend "unbound" speaks Unbound's remote-control
 * protocol itself), so clone() is allowed for threads only and execve()
 * is not on the list.  Some calls get an error instead, where the callers
 * cope with one: clone3() (glibc then uses clone()), io_uring (libuv then
 * uses its thread pool), sockets other than UNIX, IPv4 and IPv6, a new
 * resource limit.  ioctl() and prctl() are allowed for the few requests
 * used, priorities may only be lowered, signals only sent to itself.
 *
 * Built with -DRG_SANDBOX_LOG, a call off the list is logged by the kernel
 * (audit type 1326, "syscall=N" in dmesg) and allowed: that is how the list
 * was made, and how to extend it when a new library version needs more.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "sandbox.h"

#ifdef HAVE_LIBSECCOMP
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sched.h>
#include <unistd.h>

#include <seccomp.h>

#include "log.h"

/* AddressSanitizer's leak check stops the threads at exit with a clone()
 * that is not a thread's and ptrace(): the filter would kill it. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN	1
#endif
#endif

#ifdef RG_SANDBOX_LOG
#define SANDBOX_DEFAULT	SCMP_ACT_LOG
#else
#define SANDBOX_DEFAULT	SCMP_ACT_KILL_PROCESS
#endif

/*
 * Allowed whatever their arguments.  Names, not numbers, so that the list
 * builds on every architecture: a name the architecture does not have
 * (open on arm64) is skipped.
 */
static const char *const sandbox_allow[] = {
	/* memory */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
	/* threads: pthread_create (clone below), join, exit, mutexes */
	"futex", "set_robust_list", "get_robust_list", "rseq",
	"set_tid_address", "gettid", "sched_yield", "sched_getaffinity",
	"exit", "exit_group",
	/* signals: libuv's signal watchers, abort() */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"restart_syscall",
	/* time */
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
	"gettimeofday", "time",
	/* randomness: OpenSSL, libunbound's query ids and ports, UUIDs */
	"getrandom",
	/* who we are: logs, the control socket's peer check, gethostname() */
	"getpid", "getppid", "getuid", "geteuid", "getgid", "getegid",
	"getgroups", "uname", "getrlimit", "sysinfo",
	/* event loops: libuv, libevent (libunbound), libmicrohttpd, libcurl */
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
	"epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select",
	"pselect6", "eventfd", "eventfd2", "pipe", "pipe2", "dup", "dup2",
	"dup3",
	/* files: configuration, feeds, journal, spool, backends, plugins */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
	"pwritev", "lseek", "close", "open", "openat", "stat", "lstat",
	"fstat", "newfstatat", "statx", "fstatfs", "statfs", "fcntl", "fsync",
	"fdatasync", "ftruncate", "rename", "renameat", "renameat2", "link",
	"linkat", "unlink", "unlinkat", "mkdir", "mkdirat", "getdents64",
	"readlink", "readlinkat", "access", "faccessat", "faccessat2",
	"fchmod", "fchown", "getcwd", "umask",
	/* sockets (socket() itself below) */
	"socketpair", "bind", "connect", "listen", "accept", "accept4",
	"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
	"shutdown", "getsockopt", "setsockopt", "getsockname", "getpeername",
};

/* Refused with ENOSYS: the callers fall back to what is allowed. */
static const char *const sandbox_enosys[] = {
	"clone3",			/* glibc: then clone() */
	"io_uring_setup",		/* libuv 1.45 and later: thread pool */
};

/* Refused with EPERM: limits are read, not changed. */
static const char *const sandbox_eperm[] = {
	"setrlimit",
};

/* The socket families allowed; others fail with EAFNOSUPPORT. */
static const int sandbox_families[] = { AF_UNIX, AF_INET, AF_INET6 };

/* ioctl() requests: libuv's non-blocking and close-on-exec flags, queued
 * bytes, isatty(). */
static const unsigned long sandbox_ioctls[] = {
	FIONBIO, FIOCLEX, FIONCLEX, FIONREAD, TCGETS,
};

/* prctl() options: thread names. */
static const int sandbox_prctls[] = { PR_SET_NAME, PR_GET_NAME };

static int
sandbox_rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
    unsigned n, const struct scmp_arg_cmp *cmp, char *err, size_t len)
{
	int nr, rc;

	if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR)
		return 0;
	rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	if (rc < 0)
		snprintf(err, len, "cannot add a rule for %s: %s", name,
		    strerror(-rc));
	return rc;
}

static int
sandbox_rules(scmp_filter_ctx ctx, char *err, size_t len)
{
	struct scmp_arg_cmp cmp[2];
	const int fam_max = AF_INET6;
	size_t i;
	int f, rc;

	for (i = 0; i < sizeof(sandbox_allow) / sizeof(sandbox_allow[0]); i++)
		if ((rc = sandbox_rule(ctx, SCMP_ACT_ALLOW, sandbox_allow[i],
		    0, NULL, err, len)) < 0)
			return rc;
	for (i = 0; i < sizeof(sandbox_enosys) / sizeof(sandbox_enosys[0]);
	    i++)
		if ((rc = sandbox_rule(ctx, SCMP_ACT_ERRNO(ENOSYS),
		    sandbox_enosys[i], 0, NULL, err, len)) < 0)
			return rc;
	for (i = 0; i < sizeof(sandbox_eperm) / sizeof(sandbox_eperm[0]); i++)
		if ((rc = sandbox_rule(ctx, SCMP_ACT_ERRNO(EPERM),
		    sandbox_eperm[i], 0, NULL, err, len)) < 0)
			return rc;

	/* getrlimit() is prlimit64() without a new limit (libuv: the
	 * stack size of a thread). */
	cmp[0] = SCMP_A2(SCMP_CMP_EQ, 0);
	if ((rc = sandbox_rule(ctx, SCMP_ACT_ALLOW, "prlimit64", 1, cmp,
	    err, len)) < 0)
		return rc;
	cmp[0] = SCMP_A2(SCMP_CMP_NE, 0);
	if ((rc = sandbox_rule(ctx, SCMP_ACT_ERRNO(EPERM), "prlimit64", 1,
	    cmp, err, len)) < 0)
		return rc;

	/* Threads, not processes.  (s390 passes the flags second.) */
#if defined(__s390__) || defined(__s390x__)
	cmp[0] = SCMP_A1(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
#else
	cmp[0] = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
#endif
	if ((rc = sandbox_rule(ctx, SCMP_ACT_ALLOW, "clone", 1, cmp, err,
	    len)) < 0)
		return rc;

	/* The feeds' job threads lower their own priority; raising one
	 * (a negative nice value) is not allowed. */
	cmp[0] = SCMP_A0(SCMP_CMP_EQ, PRIO_PROCESS);
	cmp[1] = SCMP_A2(SCMP_CMP_MASKED_EQ, 0x80000000, 0);
	if ((rc = sandbox_rule(ctx, SCMP_ACT_ALLOW, "setpriority", 2, cmp,
	    err, len)) < 0)
		return rc;

	/* Signals to this process only: abort(), pthread_kill(). */
	cmp[0] = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid());
	if ((rc = sandbox_rule(ctx, SCMP_ACT_ALLOW, "tgkill", 1, cmp, err,
	    len)) < 0)
		return rc;

	/* socket(): one rule per family, allowed or refused, below the
	 * highest allowed one; above it, refused. */
	for (f = 0; f <= fam_max; f++) {
		uint32_t action = SCMP_ACT_ERRNO(EAFNOSUPPORT);

		for (i = 0; i < sizeof(sandbox_families) /
		    sizeof(sandbox_families[0]); i++)
			if (sandbox_families[i] == f)
				action = SCMP_ACT_ALLOW;
		cmp[0] = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)f);
		if ((rc = sandbox_rule(ctx, action, "socket", 1, cmp, err,
		    len)) < 0)
			return rc;
	}
	cmp[0] = SCMP_A0(SCMP_CMP_GT, (scmp_datum_t)fam_max);
	if ((rc = sandbox_rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket",
	    1, cmp, err, len)) < 0)
		return rc;

	for (i = 0; i < sizeof(sandbox_ioctls) / sizeof(sandbox_ioctls[0]);
	    i++) {
		cmp[0] = SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)sandbox_ioctls[i]);
		if ((rc = sandbox_rule(ctx, SCMP_ACT_ALLOW, "ioctl", 1, cmp,
		    err, len)) < 0)
			return rc;
	}
	for (i = 0; i < sizeof(sandbox_prctls) / sizeof(sandbox_prctls[0]);
	    i++) {
		cmp[0] = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)sandbox_prctls[i]);
		if ((rc = sandbox_rule(ctx, SCMP_ACT_ALLOW, "prctl", 1, cmp,
		    err, len)) < 0)
			return rc;
	}
	return 0;
}

int
rg_sandbox_enter(char *err, size_t len)
{
	scmp_filter_ctx ctx = NULL;
	int rc;

#ifdef SANDBOX_ASAN
	snprintf(err, len, "this resguardd is built with AddressSanitizer, "
	    "whose checks at exit the filter does not allow");
	return -ENOTSUP;
#endif
	/* Level 3: SECCOMP_RET_KILL_PROCESS and the log action (Linux
	 * 4.14); level 2 has the thread synchronisation. */
	if (seccomp_api_get() < 3) {
		snprintf(err, len, "the kernel or libseccomp is too old "
		    "(seccomp API level %u, 3 needed: Linux 4.14, libseccomp "
		    "2.4)", seccomp_api_get());
		return -ENOTSUP;
	}
	if ((ctx = seccomp_init(SANDBOX_DEFAULT)) == NULL) {
		snprintf(err, len, "seccomp_init failed");
		return -ENOMEM;
	}
	/* Every thread, the workers' and libmicrohttpd's too, not only
	 * this one. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0) {
		snprintf(err, len, "cannot filter every thread: %s",
		    strerror(-rc));
		goto out;
	}
	if ((rc = sandbox_rules(ctx, err, len)) < 0)
		goto out;
	if ((rc = seccomp_load(ctx)) < 0) {
		snprintf(err, len, "cannot install the filter: %s",
		    strerror(-rc));
		goto out;
	}
#ifdef RG_SANDBOX_LOG
	rg_log_warnx("seccomp: filter installed in log mode: calls off the "
	    "list are logged by the kernel, not refused");
#else
	rg_log_info("seccomp: filter installed; a system call off its list "
	    "ends resguardd");
#endif
out:
	seccomp_release(ctx);
	return rc;
}

#else /* !HAVE_LIBSECCOMP */

int
rg_sandbox_enter(char *err, size_t len)
{
	snprintf(err, len, "this resguardd was built without libseccomp");
	return -ENOTSUP;
}

#endif
