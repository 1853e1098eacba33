"""A module that leaves a thread running once imported, as some native libraries do."""

import threading
import time

threading.Thread(target=time.sleep, args=(300,), daemon=True).start()
