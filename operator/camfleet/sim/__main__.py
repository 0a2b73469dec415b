"""`python -m camfleet.sim --cameras N --port P`"""

from camfleet.sim.app import main

raise SystemExit(main())
