"""`hashshare edge`: a member-side matcher that follows the central feed and matches locally."""
