from rldynamics.cli import main

raise SystemExit(main())
