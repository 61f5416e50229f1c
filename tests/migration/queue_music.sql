CREATE TABLE `queue_music` (
  `id` int(10) NOT NULL AUTO_INCREMENT,
  `src` char(15) DEFAULT NULL,
  `music_class` smallint(2) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `src` (`src`)
) ENGINE=InnoDB AUTO_INCREMENT=753748 DEFAULT CHARSET=latin1
