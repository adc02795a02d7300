# Convenience targets; each is a script under scripts/.
.PHONY: demo test reliability gates

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

reliability:
	./scripts/reliability.sh

# The release gates alone (lint, sanity, build/install/check-mode deploy, ansible-doc, changelog), offline.
gates:
	./scripts/setup.sh
	unshare -n -- bash -c 'ip link set lo up && exec ./scripts/gates.sh'
