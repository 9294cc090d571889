"""Hardware qualification: roofline prediction against a target profile, and specs turned into verdicts."""
