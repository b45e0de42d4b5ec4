"""Shared vocabulary of the audit: the non-answer values every labeler may emit."""

NO_FACE = "no_face"
OUT_OF_DOMAIN = "out_of_domain"
