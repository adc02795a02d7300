# Convenience targets; each is a script under scripts/.
.PHONY: demo test reliability

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

reliability:
	./scripts/reliability.sh
