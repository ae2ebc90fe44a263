# mk/fetch.mk -- the feed transports (src/fetch.c): fetch-check, one
# rg_fetch() from the command line, and the system test that runs it
# against local HTTP(S) and TAXII servers; the TAXII merge fuzz target.
check_PROGRAMS += tests/system/fetch-check
tests_system_fetch_check_SOURCES = tests/system/fetch-check.c
tests_system_fetch_check_LDADD = librgcore.a $(DEPS_LIBS)
TESTS += tests/system/fetch.sh
EXTRA_DIST += tests/system/fetch.sh tests/system/fetch-fixture.py \
    tests/system/httpproxy.py

FUZZ_TARGETS += taxii
FUZZ_BINS += fuzz-build/taxii
fuzz-build/taxii: $(FUZZ_SRC)/fuzz_taxii.c $(srcdir)/src/fetch.c \
    $(srcdir)/src/util.c
	@$(MKDIR_P) fuzz-build
	$(AM_V_CCLD)$(FUZZ_BUILD) -o $@ $(FUZZ_SRC)/fuzz_taxii.c \
	    $(srcdir)/src/util.c $(DEPS_LIBS)
