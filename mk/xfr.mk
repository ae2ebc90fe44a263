# mk/xfr.mk -- RPZ feeds by zone transfer and NOTIFY: the driver and its
# system test against Knot DNS and NSD, the unit tests over scripted
# replies, and the fuzz target of the NOTIFY judge.
check_PROGRAMS += tests/system/xfr-check
tests_system_xfr_check_SOURCES = tests/system/xfr-check.c
tests_system_xfr_check_LDADD = librgcore.a $(DEPS_LIBS)
TESTS += tests/system/xfr.sh
EXTRA_DIST += tests/system/xfr.sh

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_xfr
tests_unit_test_xfr_SOURCES = tests/unit/test_xfr.c
tests_unit_test_xfr_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_xfr_LDADD = librgcore.a $(DEPS_LIBS) $(CMOCKA_LIBS) \
	-lpthread
TESTS += tests/unit/test_xfr
endif

FUZZ_TARGETS += notify
FUZZ_BINS += fuzz-build/notify
fuzz-build/notify: $(FUZZ_SRC)/fuzz_notify.c $(srcdir)/src/xfr.c \
    $(srcdir)/src/fetch.c $(srcdir)/src/util.c $(srcdir)/src/conf.c \
    $(srcdir)/src/log.c
	@$(MKDIR_P) fuzz-build
	$(AM_V_CCLD)$(FUZZ_BUILD) -o $@ $(FUZZ_SRC)/fuzz_notify.c \
	    $(srcdir)/src/xfr.c $(srcdir)/src/fetch.c $(srcdir)/src/util.c \
	    $(srcdir)/src/conf.c \
	    $(srcdir)/src/log.c $(DEPS_LIBS)
