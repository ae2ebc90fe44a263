# mk/report.mk -- reporting upstream: the engine's harness (a loop, a
# journal and the reporters, events at a given pace) and the system test
# against an HTTPS collector, a Matrix homeserver and a syslog socket
# played by tests/system/report-fixture.py.
check_PROGRAMS += tests/system/report-harness
tests_system_report_harness_SOURCES = tests/system/report-harness.c \
	src/clock.c
tests_system_report_harness_LDADD = librgcore.a $(DEPS_LIBS)
TESTS += tests/system/report.sh
EXTRA_DIST += tests/system/report.sh tests/system/report-fixture.py
