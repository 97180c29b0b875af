# The two quick-start commands. Both install what is missing first.
.PHONY: run test
run:
	./scripts/run.sh
test:
	./scripts/test.sh
