// no assets yet
