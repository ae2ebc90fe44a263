# mk/guard-fuzz.mk -- fuzz targets of guard mode: one client message
# handled by a worker (guard), one upstream reply judged and relayed to
# the client (reply); both through rg_frontend_fuzz_*(), with no socket.
FUZZ_TARGETS += guard reply
FUZZ_BINS += fuzz-build/guard fuzz-build/reply

# The frontend and what it links against, short of the daemon's main.
FUZZ_GUARD_SRC = $(srcdir)/src/frontend.c $(srcdir)/src/forward.c \
	$(srcdir)/src/blocklist.c $(srcdir)/src/log.c $(srcdir)/src/conf.c \
	$(srcdir)/src/health.c $(srcdir)/src/failover.c \
	$(srcdir)/src/probe.c $(srcdir)/src/tls.c $(srcdir)/src/journal.c \
	$(srcdir)/src/clock.c $(srcdir)/src/transport.c $(srcdir)/src/util.c

fuzz-build/guard: $(FUZZ_SRC)/fuzz_guard.c $(FUZZ_GUARD_SRC)
	@$(MKDIR_P) fuzz-build
	$(AM_V_CCLD)$(FUZZ_BUILD) -o $@ $(FUZZ_SRC)/fuzz_guard.c \
	    $(FUZZ_GUARD_SRC) $(DEPS_LIBS)
fuzz-build/reply: $(FUZZ_SRC)/fuzz_reply.c $(FUZZ_GUARD_SRC)
	@$(MKDIR_P) fuzz-build
	$(AM_V_CCLD)$(FUZZ_BUILD) -o $@ $(FUZZ_SRC)/fuzz_reply.c \
	    $(FUZZ_GUARD_SRC) $(DEPS_LIBS)
