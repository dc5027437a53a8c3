"""What people read: feedback pages, the sanitised formgrader, and the class report."""
