"""Options, graph assembly and the command-line entry points of signkps."""

import warnings

# google-api-core (Dataflow's client libraries) warns on import that Python 3.11 will leave
# its support window; every command would print it, and it says nothing about the run.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.api_core\..*")
