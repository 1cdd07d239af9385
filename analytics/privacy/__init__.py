"""Personal data: a student's data-subject requests (export, erase, anonymize) and the
progress exports."""
