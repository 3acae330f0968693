"""`storyteller batch`: NPC dialogue for a whole plot graph or a spreadsheet of lines."""
