/*
 * sandbox.h -- the seccomp filter of resguardd (server.seccomp).
 *
 * An allow-list of the system calls the running agent makes, installed on
 * every thread once the start is over; any other system call ends the
 * process with SIGSYS.
 */
#ifndef RG_SANDBOX_H
#define RG_SANDBOX_H

#include <stddef.h>

/**
 * Install the filter on every thread of the process, for good: after the
 * listeners are bound, privileges dropped, plugins loaded, the journal
 * opened and the threads started.  Returns 0, or a negative errno code
 * with the reason in ERR (-ENOTSUP when built without libseccomp).
 */
int rg_sandbox_enter(char *err, size_t len);

#endif
